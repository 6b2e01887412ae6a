/**
 * Find the `qwill` executable named by `qwill.server.path`, or explain why it is missing.
 */

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export type Resolved = { ok: true; command: string } | { ok: false; message: string };

export interface Environment {
  PATH?: string;
  PATHEXT?: string;
  HOME?: string;
}

function isExecutable(file: string, platform: NodeJS.Platform): boolean {
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) {
      return false;
    }
    if (platform === 'win32') {
      return true;
    }
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function expandHome(p: string, env: Environment): string {
  if (p === '~' || p.startsWith('~/') || p.startsWith('~\\')) {
    return path.join(env.HOME ?? os.homedir(), p.slice(1));
  }
  return p;
}

export function missingMessage(setting: string, detail: string): string {
  return (
    `Qwill: ${detail}. Install the server with \`pip install 'qwill[default-model]'\` ` +
    `(then \`qwill doctor\` checks it), or set \`qwill.server.path\` to the \`qwill\` ` +
    `executable, e.g. a virtualenv's \`bin/qwill\` (currently "${setting}").`
  );
}

/** Resolve `setting` (a bare name looked up on PATH, or a path) to an executable file. */
export function resolveServerCommand(
  setting: string | undefined,
  env: Environment = process.env,
  platform: NodeJS.Platform = process.platform,
): Resolved {
  const wanted = (setting ?? '').trim() || 'qwill';
  const expanded = expandHome(wanted, env);
  const hasSeparator = expanded.includes('/') || (platform === 'win32' && expanded.includes('\\'));
  const exts = platform === 'win32' ? ['', ...(env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';')] : [''];
  if (hasSeparator || path.isAbsolute(expanded)) {
    for (const ext of exts) {
      if (isExecutable(expanded + ext, platform)) {
        return { ok: true, command: path.resolve(expanded + ext) };
      }
    }
    const why = fs.existsSync(expanded) ? `${expanded} is not an executable file` : `${expanded} does not exist`;
    return { ok: false, message: missingMessage(wanted, why) };
  }
  const dirs = (env.PATH ?? '').split(path.delimiter).filter((d) => d.length > 0);
  for (const dir of dirs) {
    for (const ext of exts) {
      const candidate = path.join(dir, expanded + ext);
      if (isExecutable(candidate, platform)) {
        return { ok: true, command: candidate };
      }
    }
  }
  return { ok: false, message: missingMessage(wanted, `\`${wanted}\` was not found on PATH`) };
}
