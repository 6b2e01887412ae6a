/**
 * VS Code settings -> Qwill server settings.
 *
 * The extension's `contributes.configuration` is generated from the server's pydantic
 * schema (`python -m qwill.schema write`), so the list of server keys is read from the
 * manifest rather than repeated here. Keys under `qwill.server.` and `qwill.trace.` belong
 * to the client (how to start the server) and are never sent to it.
 */

export const CLIENT_SECTIONS = ['qwill.server.', 'qwill.trace.'];

export interface PropertySchema {
  type?: string | string[];
  default?: unknown;
  enum?: unknown[];
}

export interface Manifest {
  contributes?: { configuration?: { properties?: Record<string, PropertySchema> } };
}

export type ServerSettings = { [key: string]: unknown };

function isClientKey(fullKey: string): boolean {
  return CLIENT_SECTIONS.some((prefix) => fullKey.startsWith(prefix));
}

/** Server setting keys relative to `qwill` (e.g. `engine.model`), in manifest order. */
export function serverKeys(manifest: Manifest): string[] {
  const props = manifest.contributes?.configuration?.properties ?? {};
  return Object.keys(props)
    .filter((key) => key.startsWith('qwill.') && !isClientKey(key))
    .map((key) => key.slice('qwill.'.length));
}

/** The defaults declared in the manifest, as a `get` function for `serverSettings`. */
export function manifestDefaults(manifest: Manifest): (key: string) => unknown {
  const props = manifest.contributes?.configuration?.properties ?? {};
  return (key: string) => props[`qwill.${key}`]?.default;
}

/**
 * Nest flat keys into the shape of the server's `initializationOptions`:
 * `engine.model` -> `{engine: {model: ...}}`. Keys whose value is `undefined` are left out,
 * so the server keeps its own default for them.
 */
export function serverSettings(keys: string[], get: (key: string) => unknown): ServerSettings {
  const out: ServerSettings = {};
  for (const key of keys) {
    const value = get(key);
    if (value === undefined) {
      continue;
    }
    const parts = key.split('.');
    let node = out;
    for (const part of parts.slice(0, -1)) {
      const child = node[part];
      if (typeof child !== 'object' || child === null || Array.isArray(child)) {
        node[part] = {};
      }
      node = node[part] as ServerSettings;
    }
    node[parts[parts.length - 1]] = value;
  }
  return out;
}

/** True when a configuration change touches how the server process is started. */
export function needsRestart(affects: (section: string) => boolean): boolean {
  return affects('qwill.server');
}
