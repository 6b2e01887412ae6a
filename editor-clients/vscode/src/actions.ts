/**
 * The server's code action commands as the extension sees them: which ones need the editor's
 * help (rewrite needs an instruction, explain returns markdown to show), in LSP shapes.
 */

export const EXPLAIN = 'qwill.explain';
export const REWRITE = 'qwill.rewrite';

/** Offered in the instruction box; the user can type anything else. */
export const REWRITE_PRESETS = [
  'Simplify',
  'Add error handling',
  'Add type annotations',
  'Make it faster',
  'Add comments',
];

export interface LspPosition {
  line: number;
  character: number;
}

export interface Target {
  uri: string;
  range: { start: LspPosition; end: LspPosition };
  instruction?: string;
  [key: string]: unknown;
}

export function target(uri: string, start: LspPosition, end: LspPosition): Target {
  return { uri, range: { start, end } };
}

/** True when `qwill.rewrite` is about to run without an instruction (ask the user first). */
export function needsInstruction(command: string, args: unknown[]): boolean {
  if (command !== REWRITE) {
    return false;
  }
  if (typeof args[1] === 'string' && args[1].trim() !== '') {
    return false;
  }
  const first = args[0] as Target | undefined;
  return !(first && typeof first.instruction === 'string' && first.instruction.trim() !== '');
}

/** The rewrite command's arguments with the user's instruction. */
export function withInstruction(args: unknown[], instruction: string): unknown[] {
  return [args[0], instruction.trim()];
}

export interface Explanation {
  title: string;
  markdown: string;
}

/** The explanation in a `qwill.explain` result, or undefined (an error, or cancelled). */
export function explanation(result: unknown): Explanation | undefined {
  if (typeof result !== 'object' || result === null) {
    return undefined;
  }
  const r = result as Record<string, unknown>;
  if (r.status !== 'ok' || typeof r.markdown !== 'string') {
    return undefined;
  }
  return { title: typeof r.title === 'string' ? r.title : 'Qwill: Explain', markdown: r.markdown };
}
