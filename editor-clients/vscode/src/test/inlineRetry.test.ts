import * as assert from 'node:assert/strict';
import { test } from 'node:test';

import { Place, RetryGate, samePlace } from '../inlineRetry';

const at: Place = { uri: 'file:///w/odd.py', version: 3, line: 2, character: 12 };

test('a request cancelled where nothing moved is asked again, once per place', () => {
  const gate = new RetryGate();
  assert.equal(gate.shouldRetry(at, { ...at }), true);
  // the repeated request is cancelled too (focus left, dismissed): not again
  assert.equal(gate.shouldRetry(at, { ...at }), false);
  // a new keystroke is a new place
  const next = { ...at, version: 4, character: 13 };
  assert.equal(gate.shouldRetry(next, { ...next }), true);
});

test('a keystroke, a cursor move or another editor is not a reason to ask again', () => {
  const gate = new RetryGate();
  assert.equal(gate.shouldRetry(at, { ...at, version: 4 }), false);
  assert.equal(gate.shouldRetry(at, { ...at, character: 11 }), false);
  assert.equal(gate.shouldRetry(at, { ...at, line: 3 }), false);
  assert.equal(gate.shouldRetry(at, { ...at, uri: 'file:///w/other.py' }), false);
  assert.equal(gate.shouldRetry(at, undefined), false);
  assert.equal(samePlace(at, { ...at }), true);
});
