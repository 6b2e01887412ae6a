/**
 * `qwill serve` from this checkout over stdio, for the integration tests: the JSON-RPC
 * connection the extension's language client would have, plus a minimal editor that applies
 * `workspace/applyEdit` to its open documents the way VS Code does.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  createProtocolConnection,
  ProtocolConnection,
  StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-languageserver-protocol/node';

import { resolveServerCommand } from '../serverCommand';

export const root = path.resolve(__dirname, '../../../..');
export const qwill = resolveServerCommand(process.env.QWILL_BIN ?? path.join(root, '.venv', 'bin', 'qwill'));
export const skipReason = qwill.ok ? false : 'qwill is not installed in .venv (set QWILL_BIN)';

interface Pos {
  line: number;
  character: number;
}

function offsetAt(text: string, pos: Pos): number {
  let offset = 0;
  for (let line = 0; line < pos.line; line++) {
    const nl = text.indexOf('\n', offset);
    offset = nl === -1 ? text.length : nl + 1;
  }
  return offset + pos.character; // the tests use ASCII text: UTF-16 units are characters
}

export class Server {
  readonly conn: ProtocolConnection;
  readonly messages: string[] = [];
  readonly docs = new Map<string, { version: number; text: string }>();
  acceptEdits = true;
  /** The last `qwill/status` state. */
  state = 'not-loaded';
  private child: ChildProcess;

  constructor() {
    if (!qwill.ok) {
      throw new Error('qwill not found');
    }
    // the command line vscode-languageclient runs for TransportKind.stdio
    this.child = spawn(qwill.command, ['serve', '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', () => undefined);
    this.conn = createProtocolConnection(
      new StreamMessageReader(this.child.stdout!),
      new StreamMessageWriter(this.child.stdin!),
    );
    this.conn.onNotification('window/showMessage', (p: { message: string }) => {
      this.messages.push(p.message);
    });
    this.conn.onNotification('window/logMessage', () => undefined);
    this.conn.onNotification('qwill/status', (p: { state: string }) => {
      this.state = p.state;
    });
    this.conn.onRequest('window/workDoneProgress/create', () => null);
    this.conn.onNotification('$/progress', () => undefined);
    this.conn.onRequest('window/showMessageRequest', () => null);
    this.conn.onRequest('workspace/applyEdit', (p: { edit: WorkspaceEdit }) => this.applyEdit(p.edit));
    this.conn.listen();
  }

  async initialize(settings: object, workspace: string | null, extra: object = {}): Promise<Record<string, unknown>> {
    const result = await this.conn.sendRequest('initialize', {
      processId: process.pid,
      rootUri: workspace,
      workspaceFolders: workspace ? [{ uri: workspace, name: 'ws' }] : null,
      capabilities: {
        window: { workDoneProgress: true, showDocument: { support: true } },
        workspace: {
          configuration: true,
          applyEdit: true,
          workspaceEdit: {
            documentChanges: true,
            resourceOperations: ['create', 'rename', 'delete'],
            changeAnnotationSupport: { groupsOnLabel: true },
          },
        },
        textDocument: {
          inlineCompletion: {},
          codeAction: {
            dataSupport: true,
            resolveSupport: { properties: ['edit'] },
            codeActionLiteralSupport: { codeActionKind: { valueSet: ['quickfix', 'refactor'] } },
          },
        },
        ...extra,
      },
      initializationOptions: settings,
      clientInfo: { name: 'qwill-vscode-test' },
    });
    await this.conn.sendNotification('initialized', {});
    await until('the model', () => this.state === 'ready' || this.state === 'error', 60000);
    return result as Record<string, unknown>;
  }

  async open(uri: string, text: string, languageId = 'python'): Promise<void> {
    this.docs.set(uri, { version: 1, text });
    await this.conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId, version: 1, text } });
  }

  private async applyEdit(edit: WorkspaceEdit): Promise<{ applied: boolean; failureReason?: string }> {
    if (!this.acceptEdits) {
      return { applied: false, failureReason: 'rejected in review' };
    }
    for (const change of edit.documentChanges ?? []) {
      if (!('textDocument' in change)) {
        continue; // file operations: not needed by these tests
      }
      const uri = change.textDocument.uri;
      const doc = this.docs.get(uri) ?? { version: 0, text: fs.readFileSync(new URL(uri), 'utf8') };
      if (change.textDocument.version != null && this.docs.has(uri) && change.textDocument.version !== doc.version) {
        return { applied: false, failureReason: 'version mismatch' };
      }
      let text = doc.text;
      const edits = [...change.edits].sort((a, b) => offsetAt(text, b.range.start) - offsetAt(text, a.range.start));
      for (const e of edits) {
        text = text.slice(0, offsetAt(text, e.range.start)) + e.newText + text.slice(offsetAt(text, e.range.end));
      }
      if (this.docs.has(uri)) {
        const version = doc.version + 1;
        this.docs.set(uri, { version, text });
        await this.conn.sendNotification('textDocument/didChange', {
          textDocument: { uri, version },
          contentChanges: [{ text }],
        });
      } else {
        fs.writeFileSync(new URL(uri), text);
      }
    }
    return { applied: true };
  }

  async stop(): Promise<void> {
    try {
      await Promise.race([this.conn.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 5000))]);
      await this.conn.sendNotification('exit');
    } catch {
      // already gone
    }
    this.conn.dispose();
    this.child.kill();
  }
}

interface TextEdit {
  range: { start: Pos; end: Pos };
  newText: string;
}

interface WorkspaceEdit {
  documentChanges?: Array<{ textDocument: { uri: string; version: number | null }; edits: TextEdit[] } | { kind: string }>;
}

export async function until(what: string, pred: () => boolean, ms = 30000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
