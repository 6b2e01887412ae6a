"""Which KV sequence holds which slot's cached prompt, and which to give up for room.

LlamaEngine caches one prompt per `GenerationRequest.slot` ("completion", "next-edit",
"actions", "agent"), each in its own llama.cpp sequence, so that a next-edit prediction
on the completion engine does not throw away the completion prompt the next keystroke
extends. The context's KV cache is unified: all sequences share its n_ctx cells. So
before tokens are decoded into one sequence, other sequences are evicted until they fit,
least recently used first and the completion slot last; a prompt that needs the whole
context evicts all the others (the single-sequence behaviour). This module is the
bookkeeping only; the engine removes the evicted sequences' cells.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

COMPLETION_SLOT = "completion"


@dataclass(eq=False)
class CachedSequence:
    """One KV sequence: `tokens[p]` is the token whose K/V sit at position p."""

    seq_id: int
    slot: str
    tokens: list[int] = field(default_factory=list)
    last_used: int = 0


class SequenceTable:
    """Slots -> KV sequences, at most one sequence id each, within `cells` cells in all."""

    def __init__(self, seq_ids: Iterable[int], cells: int) -> None:
        self._free = list(seq_ids)
        if not self._free:
            raise ValueError("a sequence table needs at least one sequence id")
        self.cells = cells
        self.by_slot: dict[str, CachedSequence] = {}
        self._clock = itertools.count(1)

    def _eviction_order(self, keep: CachedSequence | None) -> list[CachedSequence]:
        """The other sequences in the order they are given up: least recently used first,
        the completion slot's last (it is the one every keystroke extends)."""
        others = [s for s in self.by_slot.values() if s is not keep]
        return sorted(others, key=lambda s: (s.slot == COMPLETION_SLOT, s.last_used))

    def acquire(self, slot: str) -> tuple[CachedSequence, list[CachedSequence]]:
        """The sequence for `slot`, marked as used now, and the sequences dropped to give it
        an id (their cells must be removed); a new slot's sequence starts empty."""
        seq = self.by_slot.get(slot)
        dropped: list[CachedSequence] = []
        if seq is None:
            if not self._free:
                victim = self._eviction_order(None)[0]
                self.drop(victim)
                dropped.append(victim)
            seq = CachedSequence(self._free.pop(0), slot)
            self.by_slot[slot] = seq
        seq.last_used = next(self._clock)
        return seq, dropped

    def drop(self, seq: CachedSequence) -> None:
        """Forget `seq` (its cells are removed by the caller); its id is free again."""
        if self.by_slot.get(seq.slot) is seq:
            del self.by_slot[seq.slot]
            self._free.append(seq.seq_id)
            seq.tokens.clear()

    def used_cells(self, exclude: CachedSequence | None = None) -> int:
        return sum(len(s.tokens) for s in self.by_slot.values() if s is not exclude)

    def evictions(self, keep: CachedSequence, needed: int) -> list[CachedSequence]:
        """The sequences to drop so that `keep` can hold `needed` cells beside the others
        (in eviction order; none when it fits). `needed` counts all of `keep`'s cells, the
        ones it has and the ones about to be decoded."""
        used = self.used_cells(exclude=keep)
        out: list[CachedSequence] = []
        for seq in self._eviction_order(keep):
            if used + needed <= self.cells:
                break
            if not seq.tokens:
                continue
            out.append(seq)
            used -= len(seq.tokens)
        return out
