/**
 * The Qwill extension: starts `qwill serve` over stdio, forwards the settings, shows the
 * model's state in the status bar. Inline completion itself is vscode-languageclient's
 * LSP 3.18 `textDocument/inlineCompletion` feature (a standard feature since version 10);
 * next-edit suggestions (`qwill/nextEdit`) are nextEditController.ts.
 */

import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
} from 'vscode-languageclient/node';

import * as actions from './actions';
import { runDoctor } from './doctor';
import { AgentEvent, EventLog, runArgument, summarizeResult } from './events';
import { Place, RetryGate } from './inlineRetry';
import { NextEditController } from './nextEditController';
import { resolveServerCommand } from './serverCommand';
import { Manifest, needsRestart, serverKeys, serverSettings } from './settings';
import * as status from './status';

const STATUS_NOTIFICATION = 'qwill/status';

function place(document: vscode.TextDocument, position: vscode.Position): Place {
  return { uri: document.uri.toString(), version: document.version, line: position.line, character: position.character };
}
const AGENT_EVENT = 'qwill/agentEvent';
const EXPLAIN_SCHEME = 'qwill-explain';

/** Shows explanations as markdown previews of read-only virtual documents. */
class ExplanationDocuments implements vscode.TextDocumentContentProvider {
  private readonly docs = new Map<string, string>();
  private count = 0;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.docs.get(uri.toString()) ?? '';
  }

  async show(explanation: actions.Explanation): Promise<void> {
    this.count += 1;
    const name = explanation.title.replace(/^Qwill: /, '').replace(/[^\w .`-]+/g, '').trim() || 'Explanation';
    const uri = vscode.Uri.from({ scheme: EXPLAIN_SCHEME, path: `/${name}.md`, query: String(this.count) });
    this.docs.set(uri.toString(), explanation.markdown);
    await vscode.commands.executeCommand('markdown.showPreviewToSide', uri);
  }
}

class QwillExtension implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private state = status.initialStatus();
  private readonly item: vscode.StatusBarItem;
  private readonly output: vscode.LogOutputChannel;
  private readonly doctorOutput: vscode.OutputChannel;
  private readonly keys: string[];
  private readonly disposables: vscode.Disposable[] = [];
  private readonly explanations = new ExplanationDocuments();
  private readonly inlineRetry = new RetryGate();
  private readonly agentOutput: vscode.OutputChannel;
  private agentLog = new EventLog();
  private agentRunning = false;
  private lastAgentSteps = 0;

  constructor(private readonly context: vscode.ExtensionContext) {
    this.keys = serverKeys(context.extension.packageJSON as Manifest);
    this.output = vscode.window.createOutputChannel('Qwill', { log: true });
    this.doctorOutput = vscode.window.createOutputChannel('Qwill Doctor');
    this.agentOutput = vscode.window.createOutputChannel('Qwill Agent', 'markdown');
    this.item = vscode.window.createStatusBarItem('qwill.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'Qwill';
    this.item.command = 'qwill.doctor';
    this.disposables.push(this.output, this.doctorOutput, this.agentOutput, this.item,
      new NextEditController(() => this.client, this.output));
    this.update((s) => status.onCompletionEnabled(s, this.config().get<boolean>('completion.enabled', true)));
    this.item.show();
  }

  private config(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration('qwill');
  }

  private settings(): ReturnType<typeof serverSettings> {
    const config = this.config();
    return serverSettings(this.keys, (key) => config.get(key));
  }

  private update(change: (s: status.StatusState) => status.StatusState): void {
    this.state = change(this.state);
    const view = status.render(this.state);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.accessibilityInformation = { label: view.label };
    this.item.backgroundColor =
      view.severity === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : view.severity === 'warning'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
  }

  async start(): Promise<void> {
    const resolved = resolveServerCommand(this.config().get<string>('server.path'));
    if (!resolved.ok) {
      this.update((s) => status.onMissing(s, resolved.message));
      const choice = await vscode.window.showErrorMessage(resolved.message, 'Open Settings');
      if (choice === 'Open Settings') {
        await vscode.commands.executeCommand('workbench.action.openSettings', 'qwill.server.path');
      }
      return;
    }
    const extraArgs = this.config().get<string[]>('server.extraArgs', []);
    const serverOptions: ServerOptions = {
      command: resolved.command,
      args: ['serve', ...extraArgs],
      transport: TransportKind.stdio,
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      initializationOptions: this.settings(),
      outputChannel: this.output,
      middleware: {
        // VS Code shows the suggestion as ghost text (inline completion). The server's completion
        // items carry the same suggestion for editors without it: asking for both would run the
        // model twice a keystroke, and the newer request for the document cancels the ghost text.
        provideCompletionItem: () => undefined,
        provideInlineCompletionItems: async (document, position, context, token, next) => {
          this.update((s) => status.onRequest(s, 1));
          const asked = place(document, position);
          // VS Code stops waiting after 750 ms (quick suggestions): ask again if nothing moved
          const cancelled = token.onCancellationRequested(() => setTimeout(() => {
            const editor = vscode.window.activeTextEditor;
            const now = editor?.document === document ? place(document, editor.selection.active) : undefined;
            if (this.inlineRetry.shouldRetry(asked, now)) {
              void vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
            }
          }, 0));
          try {
            return await next(document, position, context, token);
          } finally {
            cancelled.dispose();
            this.update((s) => status.onRequest(s, -1));
          }
        },
        // Picking Explain shows the answer; picking Rewrite asks how first.
        executeCommand: async (command, args, next) => {
          if (actions.needsInstruction(command, args)) {
            const instruction = await this.askInstruction();
            if (!instruction) {
              return undefined;
            }
            args = actions.withInstruction(args, instruction);
          }
          this.update((s) => status.onRequest(s, 1));
          try {
            const result = await next(command, args);
            const shown = command === actions.EXPLAIN ? actions.explanation(result) : undefined;
            if (shown) {
              await this.explanations.show(shown);
            }
            return result;
          } finally {
            this.update((s) => status.onRequest(s, -1));
          }
        },
        workspace: {
          // The server asks for section `qwill`: answer with server settings only.
          configuration: async (params, token, next) => {
            const result = await next(params, token);
            if (!Array.isArray(result)) {
              return result;
            }
            return params.items.map((item, i) => (item.section === 'qwill' ? this.settings() : result[i]));
          },
        },
      },
    };
    const client = new LanguageClient('qwill', 'Qwill', serverOptions, clientOptions);
    client.registerFeature({
      // Our explain answers stay in the command result (shown as a markdown preview).
      fillClientCapabilities: (caps) => {
        caps.experimental = { ...(caps.experimental as object | undefined), qwill: { explainView: true } };
      },
      initialize: () => undefined,
      getState: () => ({ kind: 'static' }),
      clear: () => undefined,
    });
    this.client = client;
    this.update(() => status.onCompletionEnabled(status.initialStatus(), this.config().get('completion.enabled', true)));
    client.onDidChangeState((e) => {
      if (this.client !== client) {
        return;
      }
      if (e.newState === State.Stopped) {
        this.update((s) => status.onStopped(s, 'the process exited'));
      } else if (e.newState === State.Starting && e.oldState === State.Stopped && this.state.phase === 'stopped') {
        // the language client restarts a server that died: say so until the new one is ready
        this.update((s) => status.onRestarting(s));
      }
    });
    try {
      await client.start();
    } catch (err) {
      this.update((s) => status.onStopped(s, String(err)));
      return;
    }
    client.onNotification(STATUS_NOTIFICATION, (params: status.ServerStatus) => {
      this.update((s) => status.onServerStatus(s, params));
    });
    client.onNotification(AGENT_EVENT, (ev: AgentEvent) => {
      this.agentOutput.append(this.agentLog.add(ev));
      if (typeof ev.step === 'number') {
        this.lastAgentSteps = Math.max(this.lastAgentSteps, ev.step);
      }
    });
    // Model loading goes to the status bar item; work the user can cancel (an action, an
    // agent run) also gets a notification with a Cancel button.
    client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
      const key = String(token);
      let finish: (() => void) | undefined;
      let report: vscode.Progress<{ message?: string }> | undefined;
      const sub = client.onProgress(WorkDoneProgress.type, token, (value) => {
        this.update((s) => status.onProgress(s, key, value));
        if (value.kind === 'begin' && value.cancellable) {
          void vscode.window.withProgress(
            { location: vscode.ProgressLocation.Notification, title: value.title, cancellable: true },
            (progress, cancel) => {
              report = progress;
              progress.report({ message: value.message });
              cancel.onCancellationRequested(() => {
                void client.sendNotification('window/workDoneProgress/cancel', { token });
              });
              return new Promise<void>((resolve) => (finish = resolve));
            },
          );
        } else if (value.kind === 'report') {
          report?.report({ message: value.message });
        } else if (value.kind === 'end') {
          finish?.();
          sub.dispose();
        }
      });
    });
  }

  private async askInstruction(): Promise<string | undefined> {
    const pick = await vscode.window.showQuickPick(
      [...actions.REWRITE_PRESETS, 'Other…'],
      { title: 'Qwill: rewrite the selection how?', placeHolder: 'Pick one or choose Other… to type' },
    );
    if (pick === undefined) {
      return undefined;
    }
    if (pick !== 'Other…') {
      return pick;
    }
    return vscode.window.showInputBox({ title: 'Qwill: rewrite the selection how?', prompt: 'e.g. "use a dict"' });
  }

  private editorTarget(): actions.Target | undefined {
    const editor = vscode.window.activeTextEditor;
    if (!editor || !this.client?.isRunning()) {
      void vscode.window.showWarningMessage('Qwill: open a file with the server running first.');
      return undefined;
    }
    const sel = editor.selection;
    return actions.target(
      editor.document.uri.toString(),
      { line: sel.start.line, character: sel.start.character },
      { line: sel.end.line, character: sel.end.character },
    );
  }

  async explainSelection(): Promise<void> {
    const t = this.editorTarget();
    if (t) {
      await vscode.commands.executeCommand(actions.EXPLAIN, t);
    }
  }

  async rewriteSelection(): Promise<void> {
    const t = this.editorTarget();
    if (t) {
      await vscode.commands.executeCommand(actions.REWRITE, t);
    }
  }

  private async agentCommand(command: string, arg: object): Promise<Record<string, unknown> | undefined> {
    const client = this.client;
    if (!client?.isRunning()) {
      void vscode.window.showWarningMessage('Qwill: the server is not running.');
      return undefined;
    }
    const result = (await client.sendRequest(ExecuteCommandRequest.type, {
      command,
      arguments: [arg],
    })) as Record<string, unknown> | null;
    if (result && result.status === 'error') {
      void vscode.window.showWarningMessage(`Qwill: ${result.message ?? 'failed'}`);
    }
    return result ?? undefined;
  }

  async runAgent(newSession = false): Promise<void> {
    if (this.agentRunning) {
      void vscode.window.showWarningMessage('Qwill: the agent is running; "Qwill: Cancel Agent" stops it.');
      return;
    }
    const task = await vscode.window.showInputBox({
      title: newSession || !this.agentLog.sessionId ? 'Qwill agent: new task' : 'Qwill agent: next task (same session)',
      prompt: 'What should the agent do? Each step is shown for review before it is applied.',
    });
    if (!task?.trim()) {
      return;
    }
    if (newSession) {
      this.agentLog = new EventLog();
      this.agentOutput.clear();
      this.lastAgentSteps = 0;
    }
    const root = vscode.workspace.workspaceFolders?.[0]?.uri.toString();
    this.agentOutput.show(true);
    this.agentRunning = true;
    this.update((s) => status.onRequest(s, 1));
    let result: Record<string, unknown> | undefined;
    try {
      result = await this.agentCommand('qwill.agent.run', runArgument(task, root, this.agentLog.sessionId));
    } finally {
      // the run is over: not when the user answers the summary below, which may be never
      this.agentRunning = false;
      this.update((s) => status.onRequest(s, -1));
    }
    if (!result) {
      return;
    }
    if (typeof result.sessionId === 'string') {
      this.agentLog.sessionId = result.sessionId;
    }
    const choice = await vscode.window.showInformationMessage(summarizeResult(result), 'Undo Last Step', 'Show Log');
    if (choice === 'Undo Last Step') {
      await this.agentUndo();
    } else if (choice === 'Show Log') {
      this.agentOutput.show();
    }
  }

  async agentUndo(): Promise<void> {
    if (this.agentLog.sessionId) {
      await this.agentCommand('qwill.agent.undoStep', { sessionId: this.agentLog.sessionId });
    }
  }

  async agentRewind(): Promise<void> {
    if (!this.agentLog.sessionId || this.lastAgentSteps < 1) {
      void vscode.window.showInformationMessage('Qwill: no agent steps to rewind.');
      return;
    }
    const steps = Array.from({ length: this.lastAgentSteps }, (_, i) => `${i + 1}`);
    const pick = await vscode.window.showQuickPick(steps, { title: 'Qwill: go back to before step…' });
    if (pick) {
      await this.agentCommand('qwill.agent.rewind', { sessionId: this.agentLog.sessionId, step: Number(pick) });
    }
  }

  async agentCancel(): Promise<void> {
    if (this.agentLog.sessionId) {
      await this.agentCommand('qwill.agent.cancel', { sessionId: this.agentLog.sessionId });
    }
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      await client.stop().catch(() => undefined);
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async onConfigurationChanged(e: vscode.ConfigurationChangeEvent): Promise<void> {
    if (!e.affectsConfiguration('qwill')) {
      return;
    }
    this.update((s) => status.onCompletionEnabled(s, this.config().get<boolean>('completion.enabled', true)));
    if (needsRestart((section) => e.affectsConfiguration(section))) {
      await this.restart();
      return;
    }
    if (this.client?.isRunning()) {
      await this.client.sendNotification(DidChangeConfigurationNotification.type, { settings: this.settings() });
    }
  }

  async doctor(): Promise<void> {
    const resolved = resolveServerCommand(this.config().get<string>('server.path'));
    this.doctorOutput.clear();
    this.doctorOutput.show(true);
    if (!resolved.ok) {
      this.doctorOutput.appendLine(resolved.message);
      return;
    }
    this.doctorOutput.appendLine(`$ ${resolved.command} doctor   (with the current qwill.* settings)`);
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Qwill: running doctor (loads the model once)' },
      () => runDoctor(resolved.command, this.settings()),
    );
    this.doctorOutput.appendLine(result.output);
    if (this.state.phase !== 'ready') {
      this.doctorOutput.appendLine('');
      this.doctorOutput.appendLine(`Server state: ${this.state.phase}: ${this.state.message}`);
    }
  }

  async toggleInlineCompletion(): Promise<void> {
    const enabled = this.config().get<boolean>('completion.enabled', true);
    await this.config().update('completion.enabled', !enabled, vscode.ConfigurationTarget.Global);
    vscode.window.setStatusBarMessage(`Qwill: inline completion ${enabled ? 'off' : 'on'}`, 3000);
  }

  register(): void {
    this.disposables.push(
      vscode.commands.registerCommand('qwill.doctor', () => this.doctor()),
      vscode.commands.registerCommand('qwill.restart', () => this.restart()),
      vscode.commands.registerCommand('qwill.toggleInlineCompletion', () => this.toggleInlineCompletion()),
      vscode.commands.registerCommand('qwill.showOutput', () => this.output.show()),
      vscode.commands.registerCommand('qwill.explainSelection', () => this.explainSelection()),
      vscode.commands.registerCommand('qwill.rewriteSelection', () => this.rewriteSelection()),
      vscode.commands.registerCommand('qwill.runAgent', () => this.runAgent(false)),
      vscode.commands.registerCommand('qwill.newAgentSession', () => this.runAgent(true)),
      vscode.commands.registerCommand('qwill.undoAgentStep', () => this.agentUndo()),
      vscode.commands.registerCommand('qwill.rewindAgent', () => this.agentRewind()),
      vscode.commands.registerCommand('qwill.cancelAgent', () => this.agentCancel()),
      vscode.workspace.registerTextDocumentContentProvider(EXPLAIN_SCHEME, this.explanations),
      vscode.workspace.onDidChangeConfiguration((e) => this.onConfigurationChanged(e)),
    );
    this.context.subscriptions.push(this);
  }

  dispose(): void {
    void this.stop();
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}

let extension: QwillExtension | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extension = new QwillExtension(context);
  extension.register();
  await extension.start();
}

export async function deactivate(): Promise<void> {
  await extension?.stop();
  extension = undefined;
}
