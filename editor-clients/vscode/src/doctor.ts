/**
 * `qwill doctor` with the editor's settings: what is installed, the model, whether it loads.
 */

import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import type { ServerSettings } from './settings';

export interface DoctorResult {
  code: number | null;
  output: string;
}

export function doctorArgs(configFile: string, load: boolean): string[] {
  return ['doctor', '--config', configFile, ...(load ? [] : ['--no-load'])];
}

/** Run `<command> doctor` with `settings` written to a temporary settings file. */
export async function runDoctor(
  command: string,
  settings: ServerSettings,
  options: { load?: boolean; timeoutMs?: number } = {},
): Promise<DoctorResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qwill-doctor-'));
  const configFile = path.join(dir, 'settings.json');
  fs.writeFileSync(configFile, JSON.stringify(settings));
  try {
    return await new Promise<DoctorResult>((resolve) => {
      const child = spawn(command, doctorArgs(configFile, options.load ?? true), {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      const timer = setTimeout(() => {
        output += `\n(doctor did not finish in ${Math.round((options.timeoutMs ?? 120000) / 1000)} s; stopped)`;
        child.kill();
      }, options.timeoutMs ?? 120000);
      child.on('error', (err) => {
        clearTimeout(timer);
        resolve({ code: null, output: `cannot run ${command}: ${err.message}` });
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, output: output.trimEnd() });
      });
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
