/**
 * The extension's modules against the real `qwill serve` (fake engine): the settings the
 * extension sends are accepted without a problem report, the status notifications drive
 * the status bar to "ready", changes reach the server, and doctor runs.
 */
import * as assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';

import {
  createProtocolConnection,
  ProtocolConnection,
  StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-languageserver-protocol/node';

import { runDoctor } from '../doctor';
import { resolveServerCommand } from '../serverCommand';
import { Manifest, manifestDefaults, serverKeys, serverSettings, ServerSettings } from '../settings';
import * as status from '../status';

const root = path.resolve(__dirname, '../../../..');
const qwillBin = process.env.QWILL_BIN ?? path.join(root, '.venv', 'bin', 'qwill');
const manifest = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as Manifest;
const resolved = resolveServerCommand(qwillBin);
const skip = resolved.ok ? false : `qwill not installed at ${qwillBin} (set QWILL_BIN)`;

let child: ChildProcess;
let conn: ProtocolConnection;
let state = status.initialStatus();
const messages: string[] = [];
const phases: string[] = [];
const waiters: Array<() => void> = [];
let settings: ServerSettings;
let workDir: string;

function changed(): void {
  for (const w of waiters.splice(0)) {
    w();
  }
}

async function until(what: string, pred: () => boolean, ms = 30000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; status=${JSON.stringify(state)} messages=${messages}`);
    }
    await new Promise<void>((resolve) => {
      waiters.push(resolve);
      setTimeout(resolve, 200);
    });
  }
}

before(async () => {
  if (!resolved.ok) {
    return;
  }
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qwill-vscode-'));
  const script = path.join(workDir, 'fake.json');
  fs.writeFileSync(script, JSON.stringify({ responses: ['return a + b'], default: '' }));
  // Exactly what the extension sends for a fresh install, with the fake engine as model.
  settings = serverSettings(serverKeys(manifest), manifestDefaults(manifest));
  (settings.engine as Record<string, unknown>).model = `fake:${script}`;

  child = spawn(resolved.command, ['serve'], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr!.on('data', () => undefined);
  conn = createProtocolConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  conn.onNotification('window/showMessage', (p: { message: string }) => {
    messages.push(p.message);
    changed();
  });
  conn.onNotification('window/logMessage', () => undefined);
  conn.onNotification('qwill/status', (p: status.ServerStatus) => {
    state = status.onServerStatus(state, p);
    phases.push(state.phase);
    changed();
  });
  conn.onRequest('window/workDoneProgress/create', () => null);
  conn.onNotification('$/progress', (p: { token: string; value: status.ProgressValue }) => {
    state = status.onProgress(state, String(p.token), p.value);
    changed();
  });
  conn.onRequest('workspace/configuration', (p: { items: Array<{ section?: string }> }) =>
    p.items.map((i) => (i.section === 'qwill' ? settings : null)),
  );
  conn.listen();
  await conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: null,
    capabilities: {
      window: { workDoneProgress: true },
      workspace: { configuration: true },
      textDocument: { inlineCompletion: {} },
    },
    initializationOptions: settings,
    clientInfo: { name: 'qwill-vscode-test' },
  });
  await conn.sendNotification('initialized', {});
});

after(async () => {
  if (!resolved.ok) {
    return;
  }
  try {
    await Promise.race([conn.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 5000))]);
    await conn.sendNotification('exit');
  } catch {
    // the process may already be gone
  }
  conn.dispose();
  child.kill();
  fs.rmSync(workDir, { recursive: true, force: true });
});

test('the settings the extension sends load without a problem and the status turns ready', { skip }, async () => {
  // `qwill/status` ready arrives before the load's `$/progress` end: wait for both.
  await until('ready', () => state.phase === 'error' || (state.phase === 'ready' && Object.keys(state.progress).length === 0));
  assert.equal(state.phase, 'ready', state.message);
  assert.ok(phases.includes('loading'), phases.join(','));
  assert.deepEqual(messages, []);
  const view = status.render(state);
  assert.equal(view.text, '$(check) Qwill');
  assert.match(view.tooltip, /Model: fake/);
});

test('inline completion answers from the model', { skip }, async () => {
  const uri = 'file:///tmp/qwill-vscode-test/add.py';
  await conn.sendNotification('textDocument/didOpen', {
    textDocument: { uri, languageId: 'python', version: 1, text: 'def add(a, b):\n    \n' },
  });
  const result = (await conn.sendRequest('textDocument/inlineCompletion', {
    textDocument: { uri },
    position: { line: 1, character: 4 },
    context: { triggerKind: 1 },
  })) as { items: Array<{ insertText: string }> };
  assert.equal(result.items.length, 1);
  assert.equal(result.items[0].insertText, 'return a + b');
});

test('a settings change reaches the server; a bad value is reported back', { skip }, async () => {
  const bad = structuredClone(settings) as { completion: Record<string, unknown> };
  bad.completion.maxTokens = 'many';
  await conn.sendNotification('workspace/didChangeConfiguration', { settings: bad });
  await until('a problem report', () => messages.length > 0);
  assert.match(messages[0], /completion\.maxTokens/);
  assert.equal(state.phase, 'ready');
});

test('doctor runs with the editor settings', { skip }, async () => {
  const result = await runDoctor(
    resolved.ok ? resolved.command : '',
    { engine: { model: 'default' } },
    { load: false, timeoutMs: 60000 },
  );
  assert.match(result.output, /^Qwill \d/);
  assert.match(result.output, /llama\.cpp/);
  assert.match(result.output, /model/);
});

test('doctor reports a bad model path in its output', { skip }, async () => {
  const result = await runDoctor(resolved.ok ? resolved.command : '', { engine: { model: '/no/such/model.gguf' } }, {
    load: false,
  });
  assert.notEqual(result.code, 0);
  assert.match(result.output, /\/no\/such\/model\.gguf/);
});
