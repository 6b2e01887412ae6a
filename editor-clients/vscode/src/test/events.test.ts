import * as assert from 'node:assert/strict';
import { test } from 'node:test';

import { EventLog, formatEvent, runArgument, summarizeResult } from '../events';

test('a run reads as a log: task, steps, tool calls, diff, outcome', () => {
  const log = new EventLog();
  const events = [
    { kind: 'start', sessionId: 's1', step: 0, task: 'use math.pi' },
    { kind: 'step', sessionId: 's1', step: 1 },
    { kind: 'text', sessionId: 's1', step: 1, text: 'I will ' },
    { kind: 'text', sessionId: 's1', step: 1, text: 'edit geo.py.' },
    { kind: 'tool_call', sessionId: 's1', step: 1, name: 'edit_file', arguments: { path: 'geo.py' } },
    { kind: 'tool_result', sessionId: 's1', step: 1, name: 'edit_file', ok: true, output: 'staged\nmore' },
    { kind: 'changes', sessionId: 's1', step: 1, summary: 'geo.py (+1 -1)', diff: '-a\n+b', files: ['geo.py'], flagged: [] },
    { kind: 'applied', sessionId: 's1', step: 1, summary: 'geo.py (+1 -1)' },
    { kind: 'done', sessionId: 's1', step: 2, reason: 'done', message: 'Finished.', steps: 2, toolCalls: 1, applied: 1, rejected: 0 },
  ];
  for (const ev of events) {
    log.add(ev);
  }
  assert.equal(log.sessionId, 's1');
  assert.equal(
    log.text(),
    [
      '# Task: use math.pi',
      '',
      '',
      '## Step 1',
      'I will edit geo.py.',
      '',
      '→ edit_file {"path":"geo.py"}',
      '  ✓ edit_file: staged',
      'Changes: geo.py (+1 -1)',
      '```diff',
      '-a',
      '+b',
      '```',
      '  applied: geo.py (+1 -1)',
      '',
      '**done** after 2 steps, 1 tool calls, 1 applied, 0 rejected',
      'Finished.',
    ].join('\n'),
  );
});

test('the chunks appended to an output channel add up to the log', () => {
  const log = new EventLog();
  let out = '';
  for (const ev of [
    { kind: 'step', step: 1 },
    { kind: 'text', step: 1, text: 'a' },
    { kind: 'text', step: 1, text: 'b\nc' },
    { kind: 'rejected', step: 1, reason: 'rejected in review' },
  ]) {
    out += log.add(ev);
  }
  assert.equal(out, log.text());
  assert.ok(out.endsWith('  rejected: rejected in review'));
});

test('flagged changes, plans, errors, restores and unknown events are shown', () => {
  const changes = formatEvent({ kind: 'changes', summary: 's', diff: '', flagged: ['tests/test_x.py'] }, false);
  assert.ok(changes.lines.includes('⚠ touches tests or CI: tests/test_x.py'));
  const plan = formatEvent({ kind: 'plan', items: [{ text: 'read', done: true }, { text: 'edit' }] }, false);
  assert.deepEqual(plan.lines, ['Plan:', '- [x] read', '- [ ] edit']);
  assert.deepEqual(formatEvent({ kind: 'error', message: 'checkpoint failed' }, false).lines, ['Error: checkpoint failed']);
  assert.deepEqual(formatEvent({ kind: 'restored', step: 2, files: ['a.py'] }, false).lines, ['', 'Restored to before step 2: a.py']);
  assert.match(formatEvent({ kind: 'future', x: 1 }, false).lines[0], /^\[future\] /);
});

test('long tool arguments are shortened to one line', () => {
  const line = formatEvent({ kind: 'tool_call', name: 'write_file', arguments: { text: 'x'.repeat(500) } }, false).lines[0];
  assert.ok(line.length < 140, line);
  assert.ok(line.endsWith('…'));
});

test('run arguments and result summaries', () => {
  assert.deepEqual(runArgument('  fix it ', 'file:///w', undefined), { task: 'fix it', root: 'file:///w' });
  assert.deepEqual(runArgument('go', undefined, 's1'), { task: 'go', sessionId: 's1' });
  assert.equal(summarizeResult({ status: 'done', steps: 3, applied: 2, rejected: 1 }), 'Qwill agent done: 3 steps, 2 applied, 1 rejected');
  assert.equal(summarizeResult({ status: 'error', message: 'the model is not ready' }), 'Qwill agent: the model is not ready');
});
