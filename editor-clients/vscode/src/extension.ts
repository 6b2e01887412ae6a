/**
 * The Qwill extension: starts `qwill serve` over stdio, forwards the settings, shows the
 * model's state in the status bar. Inline completion itself is vscode-languageclient's
 * LSP 3.18 `textDocument/inlineCompletion` feature (a standard feature since version 10).
 */

import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
} from 'vscode-languageclient/node';

import { runDoctor } from './doctor';
import { resolveServerCommand } from './serverCommand';
import { Manifest, needsRestart, serverKeys, serverSettings } from './settings';
import * as status from './status';

const STATUS_NOTIFICATION = 'qwill/status';

class QwillExtension implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private state = status.initialStatus();
  private readonly item: vscode.StatusBarItem;
  private readonly output: vscode.LogOutputChannel;
  private readonly doctorOutput: vscode.OutputChannel;
  private readonly keys: string[];
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly context: vscode.ExtensionContext) {
    this.keys = serverKeys(context.extension.packageJSON as Manifest);
    this.output = vscode.window.createOutputChannel('Qwill', { log: true });
    this.doctorOutput = vscode.window.createOutputChannel('Qwill Doctor');
    this.item = vscode.window.createStatusBarItem('qwill.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'Qwill';
    this.item.command = 'qwill.doctor';
    this.disposables.push(this.output, this.doctorOutput, this.item);
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
        provideInlineCompletionItems: async (document, position, context, token, next) => {
          this.update((s) => status.onRequest(s, 1));
          try {
            return await next(document, position, context, token);
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
    this.client = client;
    this.update(() => status.onCompletionEnabled(status.initialStatus(), this.config().get('completion.enabled', true)));
    client.onDidChangeState((e) => {
      if (e.newState === State.Stopped && this.client === client) {
        this.update((s) => status.onStopped(s, 'the process exited'));
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
    // Progress goes to the status bar item rather than a notification toast.
    client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
      const key = String(token);
      const sub = client.onProgress(WorkDoneProgress.type, token, (value) => {
        this.update((s) => status.onProgress(s, key, value));
        if (value.kind === 'end') {
          sub.dispose();
        }
      });
    });
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
