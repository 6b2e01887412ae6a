import * as assert from 'node:assert/strict';
import { test } from 'node:test';

import * as ne from '../nextEdit';

// the server's answer for `radius` -> `r` in `return math.pi * radius * radius` (line 5)
const answer = {
  id: 'ne-1',
  uri: 'file:///geo.py',
  version: 3,
  edits: [
    { range: { start: { line: 5, character: 21 }, end: { line: 5, character: 27 } }, newText: 'r' },
    { range: { start: { line: 5, character: 30 }, end: { line: 5, character: 36 } }, newText: 'r' },
  ],
  jump: { line: 5, character: 21 },
  cursor: { line: 5, character: 26 },
  format: 'instruct',
};

test('a prediction is read from the answer; none, a reason or a malformed answer give nothing', () => {
  const p = ne.parsePrediction(answer);
  assert.ok(p);
  assert.equal(p.id, 'ne-1');
  assert.equal(p.edits.length, 2);
  assert.deepEqual(p.jump, { line: 5, character: 21 });
  assert.equal(ne.parsePrediction({ id: null, edits: [], reason: 'undoes your last edit' }), undefined);
  assert.equal(ne.reason({ id: null, edits: [], reason: 'undoes your last edit' }), 'undoes your last edit');
  assert.equal(ne.reason(null), 'no prediction');
  assert.equal(ne.parsePrediction(null), undefined);
  assert.equal(ne.parsePrediction({ ...answer, edits: [{ range: { start: { line: -1, character: 0 } } }] }), undefined);
  assert.equal(ne.parsePrediction({ ...answer, version: '3' }), undefined);
  assert.equal(ne.parsePrediction({ ...answer, jump: undefined }), undefined);
});

test('removed text is struck through and new text shown after it, newlines marked', () => {
  const p = ne.parsePrediction(answer)!;
  assert.deepEqual(ne.decorations(p), [
    { kind: 'removed', range: answer.edits[0].range },
    { kind: 'added', range: { start: answer.edits[0].range.end, end: answer.edits[0].range.end }, text: 'r' },
    { kind: 'removed', range: answer.edits[1].range },
    { kind: 'added', range: { start: answer.edits[1].range.end, end: answer.edits[1].range.end }, text: 'r' },
  ]);
  const at = { line: 2, character: 4 };
  const insert = ne.parsePrediction({ ...answer, edits: [{ range: { start: at, end: at }, newText: 'a\nb' }] })!;
  assert.deepEqual(ne.decorations(insert), [
    { kind: 'added', range: { start: at, end: at }, text: `a${ne.NEWLINE_MARK}b` },
  ]);
  const deletion = ne.parsePrediction({ ...answer, edits: [{ range: answer.edits[0].range, newText: '' }] })!;
  assert.deepEqual(ne.decorations(deletion).map((d) => d.kind), ['removed']);
});

test('the hover shows the touched lines before and after', () => {
  const p = ne.parsePrediction(answer)!;
  const md = ne.diffMarkdown(p, (l) => (l === 5 ? '    return math.pi * radius * radius' : `line ${l}`));
  assert.ok(md.includes('-     return math.pi * radius * radius\n+     return math.pi * r * r\n'), md);
  const lines = ['def f(a,', '      b):'];
  const multi = [{ range: { start: { line: 10, character: 8 }, end: { line: 11, character: 7 } }, newText: ' c' }];
  assert.equal(ne.applyToLines(lines, 10, multi), 'def f(a, c):');
});

test('the first Tab jumps, the next ones apply', () => {
  const tab = new ne.TabState();
  assert.equal(tab.press(), 'jump');
  assert.equal(tab.press(), 'apply');
});

test('the debounce setting is read in seconds and kept within its bounds', () => {
  assert.equal(ne.debounceMs(0.3), 300);
  assert.equal(ne.debounceMs(undefined), 300);
  assert.equal(ne.debounceMs(-1), 0);
  assert.equal(ne.debounceMs(99), 10000);
});
