/**
 * `qwill/nextEdit` from the real `qwill serve` (fake engine) read by the extension's own module:
 * the answer parses into a prediction whose edits, applied, give the predicted file, and the
 * outcome notifications reach the server's counters.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';

import * as ne from '../nextEdit';
import { Server, skipReason } from './harness';

const SOURCE = "import math\n\n\ndef area(radius):\n    '''The area of a circle.'''\n    return math.pi * radius * radius\n";
const RENAMED = SOURCE.replace('def area(radius)', 'def area(r)');
const APPLIED = RENAMED.replace('math.pi * radius * radius', 'math.pi * r * r');
let server: Server;
let uri: string;

before(async () => {
  if (skipReason) {
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qwill-vscode-nextedit-'));
  const script = path.join(dir, 'fake.json');
  fs.writeFileSync(script, JSON.stringify({ responses: [], default: APPLIED + '```' }));
  server = new Server();
  await server.initialize({ engine: { model: `fake:${script}` } }, pathToFileURL(dir).toString());
  uri = pathToFileURL(path.join(dir, 'geo.py')).toString();
  await server.open(uri, SOURCE);
});

after(async () => {
  await server?.stop();
});

test('the prediction for a rename parses and its edits give the renamed uses', { skip: skipReason }, async () => {
  // `radius` -> `r` in the signature, as VS Code sends a typed-over selection
  await server.conn.sendNotification('textDocument/didChange', {
    textDocument: { uri, version: 2 },
    contentChanges: [{ range: { start: { line: 3, character: 9 }, end: { line: 3, character: 15 } }, text: 'r' }],
  });
  const result = await server.conn.sendRequest(ne.NEXT_EDIT, {
    textDocument: { uri }, position: { line: 3, character: 10 },
  });
  const p = ne.parsePrediction(result);
  assert.ok(p, JSON.stringify(result));
  assert.equal(p.version, 2);
  assert.deepEqual(p.jump, { line: 5, character: 21 });
  const lines = RENAMED.split('\n');
  assert.equal(ne.applyToLines(lines, 0, p.edits), APPLIED);
  assert.deepEqual(ne.decorations(p).filter((d) => d.kind === 'added').map((d) => d.text), ['r', 'r']);
  await server.conn.sendNotification(ne.SHOWN, { id: p.id });
  await server.conn.sendNotification(ne.ACCEPTED, { id: p.id });
  const stats = await server.conn.sendRequest('qwill/completionStats', {}) as { nextEdit: Record<string, number> };
  assert.equal(stats.nextEdit.shown, 1);
  assert.equal(stats.nextEdit.accepted, 1);
});
