/**
 * The status bar item's state: a pure reducer over what the server tells us
 * (`qwill/status`, `$/progress`) and what the client sees (requests in flight, the
 * server process stopping), and a renderer to text + tooltip.
 */

export type Phase = 'starting' | 'loading' | 'ready' | 'error' | 'stopped' | 'missing';

export interface ModelFacts {
  name?: string;
  path?: string;
  architecture?: string;
  fileSize?: number;
  contextLength?: number;
  parameters?: number;
  expertCount?: number;
  expertUsedCount?: number;
  fimTemplate?: string | null;
}

/** The payload of the server's `qwill/status` notification. */
export interface ServerStatus {
  state: 'not-loaded' | 'loading' | 'ready' | 'error';
  message?: string;
  model?: ModelFacts | null;
  /** The agent's approval mode (`qwill.agent.approvalMode`). */
  agentMode?: string;
}

export interface ProgressValue {
  kind: 'begin' | 'report' | 'end';
  title?: string;
  message?: string;
  percentage?: number;
}

export interface StatusState {
  phase: Phase;
  message: string;
  model?: ModelFacts;
  /** Work-done progress the server is reporting, by token. */
  progress: Record<string, { title: string; message?: string; percentage?: number }>;
  /** Requests that make the model work (inline completion, actions, agent). */
  inflight: number;
  completionEnabled: boolean;
  agentMode?: string;
}

export interface Rendered {
  text: string;
  tooltip: string;
  severity: 'normal' | 'warning' | 'error';
  /** What a screen reader says: the state in words (the icon names in `text` are not). */
  label: string;
}

export function initialStatus(completionEnabled = true): StatusState {
  return { phase: 'starting', message: 'starting the server', progress: {}, inflight: 0, completionEnabled };
}

export function onServerStatus(state: StatusState, status: ServerStatus): StatusState {
  const phase: Phase =
    status.state === 'ready' ? 'ready' : status.state === 'error' ? 'error' : 'loading';
  return {
    ...state,
    phase,
    message: status.message ?? '',
    model: status.model ?? (phase === 'ready' ? state.model : undefined),
    agentMode: status.agentMode ?? state.agentMode,
  };
}

export function onProgress(state: StatusState, token: string, value: ProgressValue): StatusState {
  const progress = { ...state.progress };
  if (value.kind === 'end') {
    delete progress[token];
  } else {
    const prev = progress[token];
    progress[token] = {
      title: value.title ?? prev?.title ?? 'Qwill',
      message: value.message ?? prev?.message,
      percentage: value.percentage ?? prev?.percentage,
    };
  }
  return { ...state, progress };
}

export function onRequest(state: StatusState, delta: 1 | -1): StatusState {
  return { ...state, inflight: Math.max(0, state.inflight + delta) };
}

export function onStopped(state: StatusState, message: string): StatusState {
  return { ...state, phase: 'stopped', message, progress: {}, inflight: 0 };
}

/** The server process died and vscode-languageclient is starting a new one. */
export function onRestarting(state: StatusState): StatusState {
  return { ...initialStatus(state.completionEnabled), message: 'the server stopped; starting it again' };
}

export function onMissing(state: StatusState, message: string): StatusState {
  return { ...state, phase: 'missing', message, progress: {}, inflight: 0 };
}

export function onCompletionEnabled(state: StatusState, enabled: boolean): StatusState {
  return { ...state, completionEnabled: enabled };
}

function formatBytes(n: number): string {
  if (n >= 1e9) {
    return `${(n / 1e9).toFixed(1)} GB`;
  }
  return `${Math.round(n / 1e6)} MB`;
}

function formatCount(n: number): string {
  if (n >= 1e9) {
    return `${(n / 1e9).toFixed(1)}B`;
  }
  return `${Math.round(n / 1e6)}M`;
}

/** Lines describing the loaded model, for the tooltip. */
export function modelLines(model: ModelFacts | undefined): string[] {
  if (!model) {
    return [];
  }
  const lines = [`Model: ${model.name ?? 'unknown'}`];
  const facts: string[] = [];
  if (model.architecture) {
    facts.push(model.architecture);
  }
  if (model.parameters) {
    facts.push(`${formatCount(model.parameters)} parameters`);
  }
  if (model.expertCount) {
    facts.push(`${model.expertUsedCount ?? '?'}/${model.expertCount} experts`);
  }
  if (model.fileSize) {
    facts.push(formatBytes(model.fileSize));
  }
  if (model.contextLength) {
    facts.push(`context ${model.contextLength}`);
  }
  if (facts.length > 0) {
    lines.push(facts.join(', '));
  }
  lines.push(model.fimTemplate ? `FIM template: ${model.fimTemplate}` : 'No fill-in-the-middle template');
  if (model.path) {
    lines.push(model.path);
  }
  return lines;
}

/** The state in words, then the first line of the tooltip: `Qwill ready: qwen ready`. */
function spoken(words: string, tooltip: string): string {
  return `Qwill ${words}: ${tooltip.split('\n')[0].replace(/^Qwill: /, '')}`;
}

export function render(state: StatusState): Rendered {
  const footer = 'Click for the doctor report.';
  const progress = Object.values(state.progress);
  switch (state.phase) {
    case 'starting':
      return {
        text: '$(loading~spin) Qwill',
        tooltip: `Qwill: ${state.message}`,
        severity: 'normal',
        label: spoken('starting', state.message),
      };
    case 'loading': {
      const pct = progress.find((p) => p.percentage !== undefined)?.percentage;
      const detail = progress.find((p) => p.message)?.message ?? state.message;
      return {
        text: pct === undefined ? '$(loading~spin) Qwill' : `$(loading~spin) Qwill ${pct}%`,
        tooltip: `Qwill: ${detail}`,
        severity: 'normal',
        label: spoken(pct === undefined ? 'loading' : `loading ${pct}%`, detail),
      };
    }
    case 'error':
      return {
        text: '$(error) Qwill',
        tooltip: `Qwill: ${state.message}\n\n${footer}`,
        severity: 'error',
        label: spoken('error', state.message),
      };
    case 'missing':
      return { text: '$(error) Qwill', tooltip: state.message, severity: 'error', label: spoken('not found', state.message) };
    case 'stopped':
      return {
        text: '$(debug-disconnect) Qwill',
        tooltip: `Qwill: the server stopped (${state.message}). Run "Qwill: Restart Server".\n\n${footer}`,
        severity: 'error',
        label: spoken('stopped', state.message),
      };
    case 'ready': {
      const lines = [`Qwill: ${state.message}`, ...modelLines(state.model)];
      if (state.agentMode) {
        lines.push(`Agent mode: ${state.agentMode} (qwill.agent.approvalMode)`);
      }
      // the default mode is not repeated in the bar; the others are worth seeing at a glance
      const mode = state.agentMode && state.agentMode !== 'ask' ? ` · ${state.agentMode}` : '';
      if (state.inflight > 0 || progress.length > 0) {
        const work = progress.map((p) => [p.title, p.message].filter(Boolean).join(': '));
        const tooltip = [...(work.length > 0 ? work : ['Qwill: generating']), '', ...lines].join('\n');
        return { text: `$(sync~spin) Qwill${mode}`, tooltip, severity: 'normal', label: spoken('busy', tooltip) };
      }
      if (!state.completionEnabled) {
        return {
          text: `$(circle-slash) Qwill${mode}`,
          tooltip: ['Inline completion is off (qwill.completion.enabled).', ...lines, '', footer].join('\n'),
          severity: 'warning',
          label: spoken('ready, inline completion off', state.message),
        };
      }
      return {
        text: `$(check) Qwill${mode}`,
        tooltip: [...lines, '', footer].join('\n'),
        severity: 'normal',
        label: spoken('ready', state.message),
      };
    }
  }
}
