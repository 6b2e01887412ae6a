"""Which KV sequence a request slot gets and which cached prompts give way (kv_sequences.py)."""

from __future__ import annotations

import pytest

from qwill.engine.kv_sequences import CachedSequence, SequenceTable


def _filled(table: SequenceTable, slot: str, n: int):
    seq, dropped = table.acquire(slot)
    seq.tokens[:] = range(n)
    return seq, dropped


def test_each_slot_keeps_its_own_sequence() -> None:
    table = SequenceTable(range(3), cells=1000)
    completion, _ = _filled(table, "completion", 300)
    next_edit, _ = _filled(table, "next-edit", 400)
    assert completion.seq_id != next_edit.seq_id
    again, dropped = table.acquire("completion")
    assert again is completion and again.tokens == list(range(300)) and not dropped


def test_a_new_slot_takes_the_least_recently_used_id_but_never_the_completion_one_first() -> None:
    table = SequenceTable(range(3), cells=1000)
    _filled(table, "completion", 10)
    agent, _ = _filled(table, "agent", 10)
    next_edit, _ = _filled(table, "next-edit", 10)
    table.acquire("completion")
    table.acquire("next-edit")
    # agent is now the least recently used of the others
    actions, dropped = table.acquire("actions")
    assert dropped == [agent] and actions.seq_id == agent.seq_id and not actions.tokens
    assert set(table.by_slot) == {"completion", "next-edit", "actions"}
    # even when the completion slot is the least recently used, another one goes first
    table.acquire("next-edit")
    table.acquire("actions")
    _, dropped = table.acquire("agent")
    assert dropped == [next_edit] and "completion" in table.by_slot


def test_nothing_is_evicted_while_everything_fits() -> None:
    table = SequenceTable(range(3), cells=1000)
    _filled(table, "completion", 500)
    next_edit, _ = _filled(table, "next-edit", 0)
    assert table.evictions(next_edit, 500) == []


def test_room_is_made_from_the_least_recently_used_other_slot_the_completion_one_last() -> None:
    table = SequenceTable(range(3), cells=1000)
    completion, _ = _filled(table, "completion", 400)
    agent, _ = _filled(table, "agent", 300)
    actions, _ = _filled(table, "actions", 200)
    table.acquire("completion")  # completion used last, agent least recently
    assert table.evictions(actions, 300) == []  # 400 + 300 + 300 cells: fits exactly
    assert table.evictions(actions, 301) == [agent]
    assert table.evictions(actions, 601) == [agent, completion]
    # a prompt that needs the whole context evicts every other one
    assert table.evictions(completion, 1000) == [agent, actions]


def test_empty_sequences_are_not_evicted_for_room() -> None:
    table = SequenceTable(range(3), cells=100)
    _filled(table, "agent", 0)
    _filled(table, "completion", 60)
    actions, _ = _filled(table, "actions", 0)
    assert [s.slot for s in table.evictions(actions, 50)] == ["completion"]


def test_a_dropped_sequence_frees_its_id_and_cells() -> None:
    table = SequenceTable(range(2), cells=100)
    completion, _ = _filled(table, "completion", 60)
    table.drop(completion)
    assert table.used_cells() == 0 and "completion" not in table.by_slot
    again, _ = table.acquire("completion")
    assert again is not completion and not again.tokens
    table.drop(completion)  # dropping a stale one changes nothing
    assert table.by_slot["completion"] is again


def test_a_table_needs_a_sequence() -> None:
    with pytest.raises(ValueError):
        SequenceTable([], cells=10)


class _Memory:
    """llama.cpp's memory calls as a recurrent model answers them: a tail cannot be removed."""

    def __init__(self, partial: bool) -> None:
        self.partial = partial
        self.calls: list[tuple[int, int, int]] = []

    def llama_memory_seq_rm(self, mem, seq_id: int, p0: int, p1: int) -> bool:
        self.calls.append((seq_id, p0, p1))
        return self.partial or p0 < 0


@pytest.mark.parametrize(("partial", "kept", "calls"), [
    (True, 3, [(1, 3, -1)]),  # attention KV: the tail goes, the prefix stays
    (False, 0, [(1, 3, -1), (1, -1, -1)]),  # recurrent: refused, the sequence starts over
])
def test_a_refused_tail_removal_starts_the_sequence_over(partial: bool, kept: int, calls: list) -> None:
    from types import SimpleNamespace

    from qwill.engine.llama import LlamaEngine

    lib = _Memory(partial)
    engine = SimpleNamespace(_llama_cpp=lib, _memory=lambda: None, llm=SimpleNamespace(n_tokens=5))
    seq = CachedSequence(1, "completion", [10, 11, 12, 13, 14])
    assert LlamaEngine._truncate_cache(engine, seq, 3) == kept  # type: ignore[arg-type]
    assert seq.tokens == [10, 11, 12][:kept] and engine.llm.n_tokens == kept and lib.calls == calls
