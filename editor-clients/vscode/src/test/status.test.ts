import * as assert from 'node:assert/strict';
import { test } from 'node:test';

import * as status from '../status';

const model: status.ModelFacts = {
  name: 'qwen2.5-coder-0.5b-instruct-q4_k_m',
  path: '/cache/qwen.gguf',
  architecture: 'qwen2',
  fileSize: 491400064,
  contextLength: 32768,
  parameters: 494032768,
  fimTemplate: 'qwen',
};

test('starts with a spinner', () => {
  const view = status.render(status.initialStatus());
  assert.equal(view.text, '$(loading~spin) Qwill');
  assert.match(view.tooltip, /starting/);
});

test('model loading shows the progress percentage', () => {
  let s = status.onServerStatus(status.initialStatus(), { state: 'loading', message: 'loading default' });
  assert.equal(status.render(s).text, '$(loading~spin) Qwill');
  s = status.onProgress(s, 'tok', { kind: 'begin', title: 'Qwill', message: 'loading model default', percentage: 0 });
  s = status.onProgress(s, 'tok', { kind: 'report', message: 'assembling', percentage: 42 });
  const view = status.render(s);
  assert.equal(view.text, '$(loading~spin) Qwill 42%');
  assert.match(view.tooltip, /assembling/);
  // a screen reader hears the state in words, not the icon's name
  assert.equal(view.label, 'Qwill loading 42%: assembling');
});

test('ready shows a check and the model facts, click for doctor', () => {
  let s = status.onServerStatus(status.initialStatus(), { state: 'loading', message: 'loading default' });
  s = status.onProgress(s, 'tok', { kind: 'begin', title: 'Qwill', percentage: 0 });
  s = status.onServerStatus(s, { state: 'ready', message: 'qwen ready', model });
  s = status.onProgress(s, 'tok', { kind: 'end', message: 'qwen ready' });
  const view = status.render(s);
  assert.equal(view.text, '$(check) Qwill');
  assert.equal(view.severity, 'normal');
  assert.match(view.tooltip, /Model: qwen2\.5-coder-0\.5b-instruct-q4_k_m/);
  assert.match(view.tooltip, /qwen2, 494M parameters, 491 MB, context 32768/);
  assert.match(view.tooltip, /FIM template: qwen/);
  assert.match(view.tooltip, /doctor/);
  assert.equal(view.label, 'Qwill ready: qwen ready');
});

test('a request in flight shows busy, then back to ready', () => {
  let s = status.onServerStatus(status.initialStatus(), { state: 'ready', message: 'ready', model });
  s = status.onRequest(s, 1);
  s = status.onRequest(s, 1);
  assert.equal(status.render(s).text, '$(sync~spin) Qwill');
  s = status.onRequest(s, -1);
  assert.equal(status.render(s).text, '$(sync~spin) Qwill');
  s = status.onRequest(s, -1);
  s = status.onRequest(s, -1); // never below zero
  assert.equal(s.inflight, 0);
  assert.equal(status.render(s).text, '$(check) Qwill');
});

test('server work with progress after load (e.g. an agent run) shows busy with its title', () => {
  let s = status.onServerStatus(status.initialStatus(), { state: 'ready', message: 'ready', model });
  s = status.onProgress(s, 'agent-1', { kind: 'begin', title: 'Qwill agent', message: 'step 1' });
  const view = status.render(s);
  assert.equal(view.text, '$(sync~spin) Qwill');
  assert.match(view.tooltip, /Qwill agent: step 1/);
});

test('a load error is red and carries the message', () => {
  const s = status.onServerStatus(status.initialStatus(), { state: 'error', message: "model 'x.gguf' is not a file" });
  const view = status.render(s);
  assert.equal(view.text, '$(error) Qwill');
  assert.equal(view.severity, 'error');
  assert.match(view.tooltip, /x\.gguf/);
});

test('a reload forgets the old model until the new one is ready', () => {
  let s = status.onServerStatus(status.initialStatus(), { state: 'ready', message: 'ready', model });
  s = status.onServerStatus(s, { state: 'loading', message: 'loading other' });
  assert.equal(s.model, undefined);
});

test('completion switched off is a warning, not an error', () => {
  let s = status.onServerStatus(status.initialStatus(), { state: 'ready', message: 'ready', model });
  s = status.onCompletionEnabled(s, false);
  const view = status.render(s);
  assert.equal(view.text, '$(circle-slash) Qwill');
  assert.equal(view.severity, 'warning');
});

test('server stopped and server missing', () => {
  const stopped = status.render(status.onStopped(status.initialStatus(), 'the process exited'));
  assert.equal(stopped.severity, 'error');
  assert.match(stopped.tooltip, /Restart Server/);
  const missing = status.render(status.onMissing(status.initialStatus(), 'Qwill: `qwill` was not found on PATH'));
  assert.equal(missing.text, '$(error) Qwill');
  assert.match(missing.tooltip, /not found on PATH/);
});

test('the agent approval mode is in the tooltip, and in the bar unless it is the default', () => {
  let s = status.onServerStatus(status.initialStatus(), { state: 'ready', message: 'ready', model, agentMode: 'ask' });
  let r = status.render(s);
  assert.strictEqual(r.text, '$(check) Qwill');
  assert.ok(r.tooltip.includes('Agent mode: ask'));
  s = status.onServerStatus(s, { state: 'ready', message: 'ready', agentMode: 'yolo' });
  r = status.render(s);
  assert.strictEqual(r.text, '$(check) Qwill · yolo');
});

test('a server that died and is started again shows starting, not the old ready state', () => {
  let s = status.onServerStatus(status.initialStatus(), { state: 'ready', message: 'qwen ready', model });
  s = status.onStopped(s, 'the process exited');
  assert.equal(status.render(s).label, 'Qwill stopped: the process exited');
  s = status.onRestarting(s);
  const view = status.render(s);
  assert.equal(view.text, '$(loading~spin) Qwill');
  assert.equal(view.label, 'Qwill starting: the server stopped; starting it again');
  assert.equal(s.model, undefined);
});
