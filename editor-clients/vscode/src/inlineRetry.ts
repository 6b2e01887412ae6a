/**
 * Asking again for an inline completion VS Code gave up waiting for.
 *
 * With `editor.quickSuggestions` at VS Code's default (`offWhenInlineCompletions`), a
 * keystroke gives inline completions 750 ms: a suggestion still on its way is then cancelled
 * and the suggest widget opened instead, and nothing asks again until the next keystroke. A
 * suggestion that needs longer (a new place on a small CPU) would never show. When a request
 * is cancelled while the document and the cursor are where it asked, this module says to ask
 * again (`editor.action.inlineSuggest.trigger`); the server keeps the cancelled generation
 * running for a moment, so the new request joins it. Once per place: a second cancellation
 * there (focus went elsewhere, the user dismissed it) is left alone.
 */

/** Where a request asked: the document, its version, the cursor. */
export interface Place {
  uri: string;
  version: number;
  line: number;
  character: number;
}

export function samePlace(a: Place, b: Place | undefined): boolean {
  return b !== undefined && a.uri === b.uri && a.version === b.version && a.line === b.line
    && a.character === b.character;
}

function key(p: Place): string {
  return `${p.uri}\u0000${p.version}\u0000${p.line}:${p.character}`;
}

export class RetryGate {
  private retried: string | undefined;

  /**
   * A request made at `asked` was cancelled and the editor is now at `now` (undefined: no
   * editor for that document is active). True when it should be asked again: nothing moved
   * and it has not been asked again at this place before.
   */
  shouldRetry(asked: Place, now: Place | undefined): boolean {
    if (!samePlace(asked, now)) {
      return false;
    }
    const k = key(asked);
    if (this.retried === k) {
      return false;
    }
    this.retried = k;
    return true;
  }
}
