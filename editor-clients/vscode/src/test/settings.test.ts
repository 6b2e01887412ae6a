import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { Manifest, manifestDefaults, needsRestart, serverKeys, serverSettings } from '../settings';

const manifest = JSON.parse(
  fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8'),
) as Manifest;

test('server keys come from the generated manifest and leave out client-only settings', () => {
  const keys = serverKeys(manifest);
  assert.ok(keys.includes('engine.model'));
  assert.ok(keys.includes('completion.maxTokens'));
  assert.ok(keys.includes('logLevel'));
  assert.ok(!keys.some((k) => k.startsWith('server.') || k.startsWith('trace.')), keys.join(','));
  const props = Object.keys(manifest.contributes!.configuration!.properties!);
  assert.ok(props.includes('qwill.server.path'), 'the manifest declares the client setting');
});

test('flat settings nest into initializationOptions', () => {
  const values: Record<string, unknown> = {
    'engine.model': '/models/x.gguf',
    'engine.nThreads': 4,
    'completion.enabled': false,
    logLevel: 'debug',
  };
  const out = serverSettings(['engine.model', 'engine.nThreads', 'completion.enabled', 'logLevel'], (k) => values[k]);
  assert.deepEqual(out, {
    engine: { model: '/models/x.gguf', nThreads: 4 },
    completion: { enabled: false },
    logLevel: 'debug',
  });
});

test('unset values are left for the server default', () => {
  const out = serverSettings(['engine.model', 'engine.modelCacheDir'], (k) => (k === 'engine.model' ? 'default' : undefined));
  assert.deepEqual(out, { engine: { model: 'default' } });
});

test('a null value (e.g. modelCacheDir) is sent as null, not dropped', () => {
  const out = serverSettings(['engine.modelCacheDir'], () => null);
  assert.deepEqual(out, { engine: { modelCacheDir: null } });
});

test('manifest defaults give every server key a value', () => {
  const keys = serverKeys(manifest);
  const get = manifestDefaults(manifest);
  const out = serverSettings(keys, get) as { engine: { model: string }; completion: { maxTokens: number } };
  assert.equal(out.engine.model, 'default');
  assert.equal(typeof out.completion.maxTokens, 'number');
});

test('only qwill.server.* changes restart the server', () => {
  assert.equal(needsRestart((s) => s === 'qwill.server'), true);
  assert.equal(needsRestart((s) => s === 'qwill.engine'), false);
});
