/**
 * Next-edit suggestions without the `vscode` API: the server's `qwill/nextEdit` answer read
 * and checked, what the editor shows for it (the text it removes struck through, the text it
 * adds after the place it goes, the whole change as a diff on hover), and what Tab does next.
 * nextEditController.ts puts these on screen.
 */

export const NEXT_EDIT = 'qwill/nextEdit';
export const SHOWN = 'qwill/nextEdit/shown';
export const ACCEPTED = 'qwill/nextEdit/accepted';
export const REJECTED = 'qwill/nextEdit/rejected';
/** The context key that is true while a prediction is shown in the active editor (Tab, Esc). */
export const VISIBLE_KEY = 'qwill.nextEditVisible';

export interface Pos {
  line: number;
  character: number;
}

export interface Range {
  start: Pos;
  end: Pos;
}

export interface Edit {
  range: Range;
  newText: string;
}

export interface Prediction {
  id: string;
  uri: string;
  version: number;
  edits: Edit[];
  /** Where the change starts: the first Tab puts the cursor here. */
  jump: Pos;
  /** Where the cursor goes once every edit is applied. */
  cursor: Pos;
}

function isPos(p: unknown): p is Pos {
  const q = p as Pos;
  return typeof q === 'object' && q !== null && Number.isInteger(q.line) && Number.isInteger(q.character)
    && q.line >= 0 && q.character >= 0;
}

function isEdit(e: unknown): e is Edit {
  const q = e as Edit;
  return typeof q === 'object' && q !== null && typeof q.newText === 'string' && typeof q.range === 'object'
    && q.range !== null && isPos(q.range.start) && isPos(q.range.end);
}

/** The answer as a prediction to show, or undefined (none, `reason` given, or malformed). */
export function parsePrediction(result: unknown): Prediction | undefined {
  if (typeof result !== 'object' || result === null) {
    return undefined;
  }
  const r = result as Record<string, unknown>;
  if (typeof r.id !== 'string' || typeof r.uri !== 'string' || !Number.isInteger(r.version)
      || !Array.isArray(r.edits) || r.edits.length === 0 || !r.edits.every(isEdit)
      || !isPos(r.jump) || !isPos(r.cursor)) {
    return undefined;
  }
  return { id: r.id, uri: r.uri, version: r.version as number, edits: r.edits as Edit[], jump: r.jump,
    cursor: r.cursor };
}

/** Why there is nothing to show (the server's `reason`), for the log. */
export function reason(result: unknown): string {
  const r = result as { reason?: unknown } | null;
  return r && typeof r.reason === 'string' ? r.reason : 'no prediction';
}

export interface Decoration {
  /** `removed`: the range is struck through; `added`: `text` is shown after `range.end`. */
  kind: 'removed' | 'added';
  range: Range;
  text?: string;
}

/** Newlines of added text shown on one line. */
export const NEWLINE_MARK = ' \u21b5 ';

/** What to draw for the prediction: each removed range, and each edit's new text after it. */
export function decorations(p: Prediction): Decoration[] {
  const out: Decoration[] = [];
  for (const e of p.edits) {
    const empty = e.range.start.line === e.range.end.line && e.range.start.character === e.range.end.character;
    if (!empty) {
      out.push({ kind: 'removed', range: e.range });
    }
    if (e.newText !== '') {
      out.push({ kind: 'added', range: { start: e.range.end, end: e.range.end },
        text: e.newText.split('\n').join(NEWLINE_MARK) });
    }
  }
  return out;
}

/** The change as a unified-diff-like markdown block: the touched lines before and after. */
export function diffMarkdown(p: Prediction, lineAt: (line: number) => string): string {
  const first = Math.min(...p.edits.map((e) => e.range.start.line));
  const last = Math.max(...p.edits.map((e) => e.range.end.line));
  const before: string[] = [];
  for (let l = first; l <= last; l++) {
    before.push(lineAt(l));
  }
  const after = applyToLines(before, first, p.edits).split('\n');
  const body = [...before.map((l) => `- ${l}`), ...after.map((l) => `+ ${l}`)].join('\n');
  return `**Qwill: next edit** (Tab to jump, Tab again to apply, Esc to dismiss)\n\n\`\`\`diff\n${body}\n\`\`\``;
}

/** `lines` (starting at line `first` of the document) with the edits applied, as one string. */
export function applyToLines(lines: string[], first: number, edits: Edit[]): string {
  const text = lines.join('\n');
  const offset = (p: Pos): number => {
    let o = 0;
    for (let l = first; l < p.line; l++) {
      o += (lines[l - first] ?? '').length + 1;
    }
    return o + p.character;
  };
  const sorted = [...edits].sort((a, b) => offset(b.range.start) - offset(a.range.start));
  let out = text;
  for (const e of sorted) {
    out = out.slice(0, offset(e.range.start)) + e.newText + out.slice(offset(e.range.end));
  }
  return out;
}

/** What Tab does: jump to the change first, apply it once the cursor was taken there. */
export type TabAction = 'jump' | 'apply';

export class TabState {
  private jumped = false;

  /** The action of this Tab press (the first jumps, the next applies). */
  press(): TabAction {
    if (this.jumped) {
      return 'apply';
    }
    this.jumped = true;
    return 'jump';
  }
}

/** Seconds of `nextEdit.debounce` as milliseconds, within the setting's bounds. */
export function debounceMs(seconds: unknown): number {
  const s = typeof seconds === 'number' && Number.isFinite(seconds) ? seconds : 0.3;
  return Math.round(Math.min(Math.max(s, 0), 10) * 1000);
}
