import * as assert from 'node:assert/strict';
import { test } from 'node:test';

import * as actions from '../actions';

const t = actions.target('file:///a.py', { line: 1, character: 0 }, { line: 3, character: 4 });

test('rewrite without an instruction asks; with one it does not', () => {
  assert.equal(actions.needsInstruction('qwill.rewrite', [t]), true);
  assert.equal(actions.needsInstruction('qwill.rewrite', [t, '  ']), true);
  assert.equal(actions.needsInstruction('qwill.rewrite', [t, 'use a dict']), false);
  assert.equal(actions.needsInstruction('qwill.rewrite', [{ ...t, instruction: 'simplify' }]), false);
  assert.equal(actions.needsInstruction('qwill.explain', [t]), false);
  assert.deepEqual(actions.withInstruction([t], ' simplify '), [t, 'simplify']);
});

test('explanations are read from ok results only', () => {
  assert.deepEqual(actions.explanation({ status: 'ok', title: 'Qwill: Explain `f`', markdown: '### f' }), {
    title: 'Qwill: Explain `f`',
    markdown: '### f',
  });
  assert.equal(actions.explanation({ status: 'error', message: 'x' }), undefined);
  assert.equal(actions.explanation({ status: 'cancelled' }), undefined);
  assert.equal(actions.explanation(null), undefined);
});
