import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

import { resolveServerCommand } from '../serverCommand';

function tempBin(): { dir: string; exe: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qwill-bin-'));
  const exe = path.join(dir, 'qwill');
  fs.writeFileSync(exe, '#!/bin/sh\nexit 0\n');
  fs.chmodSync(exe, 0o755);
  return { dir, exe };
}

test('a bare name is found on PATH', { skip: process.platform === 'win32' }, () => {
  const { dir, exe } = tempBin();
  const r = resolveServerCommand('qwill', { PATH: ['/nonexistent', dir].join(path.delimiter) });
  assert.deepEqual(r, { ok: true, command: exe });
});

test('an empty setting means `qwill` on PATH', { skip: process.platform === 'win32' }, () => {
  const { dir, exe } = tempBin();
  assert.deepEqual(resolveServerCommand('  ', { PATH: dir }), { ok: true, command: exe });
});

test('an absolute path is used as is', { skip: process.platform === 'win32' }, () => {
  const { exe } = tempBin();
  assert.deepEqual(resolveServerCommand(exe, { PATH: '' }), { ok: true, command: exe });
});

test('~ expands to the home directory', { skip: process.platform === 'win32' }, () => {
  const { dir, exe } = tempBin();
  assert.deepEqual(resolveServerCommand('~/qwill', { HOME: dir, PATH: '' }), { ok: true, command: exe });
});

test('missing on PATH: the message says how to install and which setting to change', () => {
  const r = resolveServerCommand('qwill', { PATH: fs.mkdtempSync(path.join(os.tmpdir(), 'empty-')) });
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.match(r.message, /was not found on PATH/);
    assert.match(r.message, /pip install 'qwill\[default-model\]'/);
    assert.match(r.message, /qwill\.server\.path/);
  }
});

test('a path that does not exist is reported as such', () => {
  const r = resolveServerCommand('/no/such/dir/qwill', { PATH: '' });
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.match(r.message, /\/no\/such\/dir\/qwill does not exist/);
  }
});

test('a file that is not executable is refused', { skip: process.platform === 'win32' }, () => {
  const { exe } = tempBin();
  fs.chmodSync(exe, 0o644);
  const r = resolveServerCommand(exe, { PATH: '' });
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.match(r.message, /is not an executable file/);
  }
});
