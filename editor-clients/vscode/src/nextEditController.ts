/**
 * Next-edit suggestions in the editor: after a change (debounced by `qwill.nextEdit.debounce`)
 * ask `qwill/nextEdit`, show the prediction where it goes as decorations, and let Tab jump to
 * it, Tab again apply it (one undo step) and Esc dismiss it. The next change cancels it. The
 * server hears what became of each prediction (shown / accepted / rejected, counted locally).
 * Ghost text keeps Tab while it is visible (the keybindings' `when` clauses in package.json).
 */

import * as vscode from 'vscode';
import { LanguageClient } from 'vscode-languageclient/node';

import * as ne from './nextEdit';

interface Shown {
  prediction: ne.Prediction;
  editor: vscode.TextEditor;
  tab: ne.TabState;
}

function position(p: ne.Pos): vscode.Position {
  return new vscode.Position(p.line, p.character);
}

function range(r: ne.Range): vscode.Range {
  return new vscode.Range(position(r.start), position(r.end));
}

export class NextEditController implements vscode.Disposable {
  private readonly removed = vscode.window.createTextEditorDecorationType({
    textDecoration: 'line-through',
    backgroundColor: new vscode.ThemeColor('diffEditor.removedTextBackground'),
    rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
  });
  private readonly added = vscode.window.createTextEditorDecorationType({
    rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
  });
  private readonly disposables: vscode.Disposable[] = [this.removed, this.added];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pending: vscode.CancellationTokenSource | undefined;
  private shown: Shown | undefined;
  /** Changes made by applying a prediction: not a reason to hide or ask (a new ask follows). */
  private applying = false;

  constructor(private readonly client: () => LanguageClient | undefined, private readonly log: vscode.LogOutputChannel) {
    this.disposables.push(
      vscode.workspace.onDidChangeTextDocument((e) => this.onChange(e)),
      vscode.window.onDidChangeActiveTextEditor(() => this.hide('rejected')),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('qwill.nextEdit.enabled') && !this.enabled()) {
          this.cancel();
          this.hide('rejected');
        }
      }),
      vscode.commands.registerCommand('qwill.nextEdit.tab', () => this.tab()),
      vscode.commands.registerCommand('qwill.nextEdit.dismiss', () => this.hide('rejected')),
      vscode.commands.registerCommand('qwill.nextEdit.request', () => this.request()),
    );
  }

  private config(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration('qwill');
  }

  private enabled(): boolean {
    return this.config().get<boolean>('nextEdit.enabled', true);
  }

  private onChange(e: vscode.TextDocumentChangeEvent): void {
    const editor = vscode.window.activeTextEditor;
    if (e.contentChanges.length === 0 || !editor || editor.document !== e.document) {
      return;
    }
    if (this.applying) {
      return;
    }
    this.hide('rejected');
    this.cancel();
    // undoing or redoing is not an edit to follow (undoing an applied prediction would bring it back)
    if (!this.enabled() || e.reason !== undefined) {
      return;
    }
    this.timer = setTimeout(() => void this.request(), ne.debounceMs(this.config().get('nextEdit.debounce')));
  }

  private cancel(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.pending?.cancel();
    this.pending?.dispose();
    this.pending = undefined;
  }

  /** Ask for a prediction at the active editor's cursor and show it. */
  async request(): Promise<void> {
    this.cancel();
    const client = this.client();
    const editor = vscode.window.activeTextEditor;
    if (!client?.isRunning() || !editor || !this.enabled()) {
      return;
    }
    const document = editor.document;
    const version = document.version;
    const source = new vscode.CancellationTokenSource();
    this.pending = source;
    let result: unknown;
    try {
      result = await client.sendRequest(ne.NEXT_EDIT, {
        textDocument: { uri: document.uri.toString() },
        position: client.code2ProtocolConverter.asPosition(editor.selection.active),
      }, source.token);
    } catch (err) {
      if (!source.token.isCancellationRequested) {
        this.log.warn(`qwill/nextEdit failed: ${String(err)}`);
      }
      return;
    } finally {
      if (this.pending === source) {
        this.pending = undefined;
      }
      source.dispose();
    }
    const prediction = ne.parsePrediction(result);
    if (!prediction) {
      this.log.debug(`next edit: ${ne.reason(result)}`);
      return;
    }
    const stale = source.token.isCancellationRequested || vscode.window.activeTextEditor !== editor
      || document.version !== version || prediction.version !== version;
    if (stale) {
      void client.sendNotification(ne.REJECTED, { id: prediction.id });
      return;
    }
    this.show(editor, prediction);
    void client.sendNotification(ne.SHOWN, { id: prediction.id });
  }

  private show(editor: vscode.TextEditor, prediction: ne.Prediction): void {
    this.hide('rejected');
    const removed: vscode.DecorationOptions[] = [];
    const added: vscode.DecorationOptions[] = [];
    const hover = new vscode.MarkdownString(ne.diffMarkdown(prediction, (l) => editor.document.lineAt(l).text));
    for (const d of ne.decorations(prediction)) {
      if (d.kind === 'removed') {
        removed.push({ range: range(d.range), hoverMessage: hover });
      } else {
        added.push({
          range: range(d.range),
          hoverMessage: hover,
          renderOptions: {
            after: {
              contentText: d.text,
              color: new vscode.ThemeColor('editorGhostText.foreground'),
              backgroundColor: new vscode.ThemeColor('diffEditor.insertedTextBackground'),
              border: '1px solid',
              borderColor: new vscode.ThemeColor('diffEditor.insertedLineBackground'),
            },
          },
        });
      }
    }
    editor.setDecorations(this.removed, removed);
    editor.setDecorations(this.added, added);
    this.shown = { prediction, editor, tab: new ne.TabState() };
    void vscode.commands.executeCommand('setContext', ne.VISIBLE_KEY, true);
  }

  /** Hide what is shown; `outcome` is told to the server. */
  private hide(outcome: 'rejected' | undefined): void {
    const shown = this.shown;
    if (!shown) {
      return;
    }
    this.shown = undefined;
    shown.editor.setDecorations(this.removed, []);
    shown.editor.setDecorations(this.added, []);
    void vscode.commands.executeCommand('setContext', ne.VISIBLE_KEY, false);
    if (outcome) {
      void this.client()?.sendNotification(ne.REJECTED, { id: shown.prediction.id });
    }
  }

  /** Tab: jump to the prediction, or apply it if the cursor was already taken there. */
  async tab(): Promise<void> {
    const shown = this.shown;
    if (!shown) {
      return;
    }
    const { editor, prediction } = shown;
    if (editor.document.isClosed || editor.document.version !== prediction.version) {
      this.hide('rejected');
      return;
    }
    if (shown.tab.press() === 'jump') {
      const jump = position(prediction.jump);
      editor.selection = new vscode.Selection(jump, jump);
      editor.revealRange(new vscode.Range(jump, jump), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
      return;
    }
    this.hide(undefined);
    this.applying = true;
    let applied = false;
    try {
      applied = await editor.edit((builder) => {
        for (const e of prediction.edits) {
          builder.replace(range(e.range), e.newText);
        }
      }, { undoStopBefore: true, undoStopAfter: true });
    } finally {
      this.applying = false;
    }
    const client = this.client();
    if (!applied) {
      void client?.sendNotification(ne.REJECTED, { id: prediction.id });
      return;
    }
    const cursor = position(prediction.cursor);
    editor.selection = new vscode.Selection(cursor, cursor);
    void client?.sendNotification(ne.ACCEPTED, { id: prediction.id });
    // the edit that follows this one
    if (this.enabled()) {
      this.timer = setTimeout(() => void this.request(), ne.debounceMs(this.config().get('nextEdit.debounce')));
    }
  }

  dispose(): void {
    this.cancel();
    this.hide(undefined);
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}
