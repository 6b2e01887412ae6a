/**
 * Explain, rewrite and the agent against the real `qwill serve` (fake engine), through the
 * extension's own modules: the command interception (actions.ts), the event log (events.ts),
 * and the manifest's commands, which must not collide with the server's.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';

import * as actions from '../actions';
import { AgentEvent, EventLog, runArgument, summarizeResult } from '../events';
import { Server, skipReason, until } from './harness';

const manifest = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as {
  contributes: { commands: Array<{ command: string }> };
};

function call(name: string, args: object): string {
  return `<tool_call>\n${JSON.stringify({ name, arguments: args })}\n</tool_call>`;
}

const GEO = 'import math\n\n\ndef area(r):\n    return 3.14 * r * r\n';
let server: Server;
let dir: string;
let uri: string;
let commands: string[] = [];
const log = new EventLog();
let chunks = '';

before(async () => {
  if (skipReason) {
    return;
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qwill-vscode-agent-'));
  fs.writeFileSync(path.join(dir, 'pyproject.toml'), "[project]\nname = 'geo'\n");
  fs.writeFileSync(path.join(dir, 'geo.py'), GEO);
  const script = path.join(dir, 'fake.json');
  fs.writeFileSync(script, JSON.stringify({
    responses: [
      'It returns the **area** of a circle.',
      '```python\ndef area(r):\n    return 3.14 * r ** 2\n```',
      call('edit_file', { path: 'geo.py', old_text: '3.14 * r ** 2', new_text: 'math.pi * r ** 2' }),
      'Done: area uses math.pi.',
    ],
    default: '',
  }));
  server = new Server();
  server.conn.onNotification('qwill/agentEvent', (ev: AgentEvent) => {
    chunks += log.add(ev);
  });
  const result = await server.initialize(
    { engine: { model: `fake:${script}` } },
    pathToFileURL(dir).toString(),
    { experimental: { qwill: { explainView: true } } },
  );
  commands = ((result.capabilities as Record<string, { commands?: string[] }>).executeCommandProvider?.commands) ?? [];
  uri = pathToFileURL(path.join(dir, 'geo.py')).toString();
  await server.open(uri, GEO);
});

after(async () => {
  if (!skipReason) {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the extension's commands do not collide with the server's (the client registers those)", { skip: skipReason }, () => {
  assert.ok(commands.includes(actions.EXPLAIN) && commands.includes(actions.REWRITE), commands.join(','));
  assert.ok(commands.includes('qwill.agent.run'));
  const ours = manifest.contributes.commands.map((c) => c.command);
  assert.deepEqual(ours.filter((c) => commands.includes(c)), []);
});

test('explain answers markdown in the result for our client (shown as a preview)', { skip: skipReason }, async () => {
  const t = actions.target(uri, { line: 4, character: 4 }, { line: 4, character: 4 });
  const result = await server.conn.sendRequest('workspace/executeCommand', { command: actions.EXPLAIN, arguments: [t] });
  const shown = actions.explanation(result);
  assert.ok(shown, JSON.stringify(result));
  assert.equal(shown.title, 'Qwill: Explain `area`');
  assert.match(shown.markdown, /It returns the \*\*area\*\* of a circle\./);
});

test('rewrite with the instruction the extension asked for edits the document', { skip: skipReason }, async () => {
  const t = actions.target(uri, { line: 3, character: 0 }, { line: 4, character: 23 });
  assert.equal(actions.needsInstruction(actions.REWRITE, [t]), true);
  const args = actions.withInstruction([t], 'use ** for the square');
  const result = (await server.conn.sendRequest('workspace/executeCommand', {
    command: actions.REWRITE,
    arguments: args,
  })) as Record<string, unknown>;
  assert.equal(result.status, 'applied', JSON.stringify(result));
  assert.match(server.docs.get(uri)!.text, /return 3\.14 \* r \*\* 2/);
});

test('an agent run streams events into the log and edits through applyEdit', { skip: skipReason }, async () => {
  const result = (await server.conn.sendRequest('workspace/executeCommand', {
    command: 'qwill.agent.run',
    arguments: [runArgument('use math.pi in area', pathToFileURL(dir).toString(), undefined)],
  })) as Record<string, unknown>;
  assert.equal(result.status, 'done', JSON.stringify(result));
  assert.equal(summarizeResult(result), 'Qwill agent done: 2 steps, 1 applied, 0 rejected');
  assert.match(server.docs.get(uri)!.text, /return math\.pi \* r \*\* 2/);
  await until('the done event', () => log.text().includes('**done**'));
  const text = log.text();
  for (const expected of ['# Task: use math.pi in area', '## Step 1', '→ edit_file', 'Changes: ', '```diff',
    '+    return math.pi * r ** 2', '  applied: ', '## Step 2', 'Done: area uses math.pi.',
    '**done** after 2 steps, 1 tool calls, 1 applied, 0 rejected']) {
    assert.ok(text.includes(expected), `${expected} not in:\n${text}`);
  }
  assert.equal(chunks, text); // what the output channel shows
  assert.equal(log.sessionId, result.sessionId);

  const undo = (await server.conn.sendRequest('workspace/executeCommand', {
    command: 'qwill.agent.undoStep',
    arguments: [{ sessionId: log.sessionId }],
  })) as Record<string, unknown>;
  assert.equal(undo.status, 'applied', JSON.stringify(undo));
  assert.match(server.docs.get(uri)!.text, /return 3\.14 \* r \*\* 2/);
  await until('the restored event', () => log.text().includes('Restored to before step 1'));
});
