/**
 * The agent's `qwill/agentEvent` stream as text for the "Qwill Agent" view: one event in,
 * the lines it adds out. The model's streaming text continues the previous line.
 */

export interface AgentEvent {
  kind: string;
  sessionId?: string;
  step?: number;
  [key: string]: unknown;
}

export interface Formatted {
  lines: string[];
  /** The first line continues the last line written (streaming model text). */
  continueLast: boolean;
}

function short(value: unknown, n: number): string {
  const s = (typeof value === 'string' ? value : JSON.stringify(value) ?? '').replace(/\s+/g, ' ');
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}

function split(text: unknown): string[] {
  return String(text ?? '').split('\n');
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

/** Format one event; `streaming` says the last lines written are the model's text. */
export function formatEvent(ev: AgentEvent, streaming: boolean): Formatted {
  if (ev.kind === 'text') {
    return { lines: split(ev.text), continueLast: streaming };
  }
  let lines: string[];
  switch (ev.kind) {
    case 'start':
      lines = [`# Task: ${ev.task ?? ''}`, ''];
      break;
    case 'step':
      lines = ['', `## Step ${num(ev.step)}`];
      break;
    case 'tool_call':
      lines = [`→ ${ev.name ?? '?'} ${short(ev.arguments ?? {}, 120)}`];
      break;
    case 'tool_result':
      lines = [`  ${ev.ok ? '✓' : '✗'} ${ev.name ?? '?'}: ${short(split(ev.output)[0], 120)}`];
      break;
    case 'changes': {
      lines = [`Changes: ${ev.summary ?? ''}`, '```diff', ...split(ev.diff), '```'];
      const flagged = Array.isArray(ev.flagged) ? (ev.flagged as string[]) : [];
      if (flagged.length > 0) {
        lines.push(`⚠ touches tests or CI: ${flagged.join(', ')}`);
      }
      break;
    }
    case 'applied':
      lines = [`  applied: ${ev.summary ?? ''}`];
      break;
    case 'rejected':
      lines = [`  rejected: ${ev.reason ?? ''}`];
      break;
    case 'plan': {
      const items = Array.isArray(ev.items) ? (ev.items as Array<{ text?: string; done?: boolean }>) : [];
      lines = ['Plan:', ...items.map((i) => `- [${i.done ? 'x' : ' '}] ${i.text ?? ''}`)];
      break;
    }
    case 'stats': {
      const seconds = num(ev.promptSeconds) + num(ev.generateSeconds);
      lines = [
        `  (prompt ${ev.promptTokens ?? '?'} tokens, ${ev.prefillTokens ?? '?'} evaluated, ` +
          `${ev.generatedTokens ?? '?'} generated, ${seconds.toFixed(1)} s)`,
      ];
      break;
    }
    case 'done':
      lines = [
        '',
        `**${ev.reason ?? 'done'}** after ${num(ev.steps)} steps, ${num(ev.toolCalls)} tool calls, ` +
          `${num(ev.applied)} applied, ${num(ev.rejected)} rejected`,
        ...split(ev.message),
      ];
      break;
    case 'error':
      lines = [`Error: ${ev.message ?? ''}`];
      break;
    case 'restored': {
      const files = Array.isArray(ev.files) ? (ev.files as string[]) : [];
      lines = ['', `Restored to before step ${num(ev.step)}: ${files.join(', ')}`];
      break;
    }
    case 'compacted':
      lines = ['(older tool results elided to fit the context)'];
      break;
    default:
      lines = [`[${ev.kind}] ${short(ev, 120)}`];
  }
  if (streaming) {
    lines.unshift(''); // end the model's paragraph before the next item
  }
  return { lines, continueLast: false };
}

/** Accumulates formatted events into a document (the view's content). */
export class EventLog {
  private readonly lines: string[] = [];
  private streaming = false;
  sessionId: string | undefined;

  /** Add an event; returns the text to append to an output channel (no trailing newline). */
  add(ev: AgentEvent): string {
    if (typeof ev.sessionId === 'string') {
      this.sessionId = ev.sessionId;
    }
    const { lines, continueLast } = formatEvent(ev, this.streaming);
    const first = this.lines.length === 0;
    let chunk: string;
    if (continueLast && !first) {
      this.lines[this.lines.length - 1] += lines[0];
      this.lines.push(...lines.slice(1));
      chunk = lines.join('\n');
    } else {
      this.lines.push(...lines);
      chunk = (first ? '' : '\n') + lines.join('\n');
    }
    this.streaming = ev.kind === 'text';
    return chunk;
  }

  text(): string {
    return this.lines.join('\n');
  }

  clear(): void {
    this.lines.length = 0;
    this.streaming = false;
  }
}

/** The argument of `qwill.agent.run`. */
export function runArgument(task: string, root: string | undefined, sessionId: string | undefined): Record<string, string> {
  const arg: Record<string, string> = { task: task.trim() };
  if (root) {
    arg.root = root;
  }
  if (sessionId) {
    arg.sessionId = sessionId;
  }
  return arg;
}

/** One line for a finished run (the result of `qwill.agent.run`). */
export function summarizeResult(result: Record<string, unknown>): string {
  if (result.status === 'error') {
    return `Qwill agent: ${result.message ?? 'failed'}`;
  }
  return (
    `Qwill agent ${result.status ?? 'done'}: ${num(result.steps)} steps, ` +
    `${num(result.applied)} applied, ${num(result.rejected)} rejected`
  );
}
