"""The usage totals kept on this machine: increments added, never overwritten, read back
by `qwill doctor`."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwill.doctor import DoctorReport, _usage_check
from qwill.local_state import UsageRecorder, UsageTotals, add_totals, default_path, read_totals, state_dir


def test_the_state_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QWILL_STATE_DIR", str(tmp_path / "s"))
    assert state_dir() == tmp_path / "s"
    assert default_path() == tmp_path / "s" / "usage-stats.json"


def test_increments_add_up_and_survive_a_new_reader(tmp_path: Path) -> None:
    path = tmp_path / "state" / "usage.json"
    assert read_totals(path) == UsageTotals()  # no file yet: zeros
    add_totals({"inline_shown": 3, "inline_accepted": 1}, path)
    totals = add_totals({"inline_shown": 2, "next_edit_shown": 1}, path)
    assert (totals.inline_shown, totals.inline_accepted, totals.next_edit_shown) == (5, 1, 1)
    again = read_totals(path)
    assert again.as_dict() == totals.as_dict() and again.since and again.updated
    with pytest.raises(ValueError, match="unknown usage counters: typo"):
        add_totals({"typo": 1}, path)


def test_a_corrupt_file_reads_as_zeros_and_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "usage.json"
    path.write_text("{not json")
    assert read_totals(path) == UsageTotals()
    path.write_text('{"inline_shown": -4, "next_edit_accepted": "7", "inline_accepted": 2}')
    assert read_totals(path).as_dict() == {**UsageTotals().as_dict(), "inline_accepted": 2}
    assert add_totals({"inline_shown": 1}, path).inline_shown == 1


def test_two_servers_add_their_own_counts(tmp_path: Path) -> None:
    path = tmp_path / "usage.json"
    a = {"inline_shown": 0, "inline_accepted": 0}
    b = {"next_edit_shown": 0, "next_edit_accepted": 0, "next_edit_dismissed": 0}
    ra, rb = UsageRecorder(lambda: dict(a), lambda: path), UsageRecorder(lambda: dict(b), lambda: path)
    assert ra.flush() is None  # nothing counted yet: nothing written
    assert not path.exists()
    a["inline_shown"] = 4
    b["next_edit_shown"], b["next_edit_dismissed"] = 2, 1
    ra.flush()
    rb.flush()
    a["inline_shown"], a["inline_accepted"] = 6, 1  # counted since the last flush: 2 and 1
    ra.flush()
    assert ra.flush() is None  # flushed twice: counted once
    t = read_totals(path)
    assert (t.inline_shown, t.inline_accepted, t.next_edit_shown, t.next_edit_dismissed) == (6, 1, 2, 1)


def test_an_unwritable_place_keeps_the_counts_for_the_next_flush(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    where = [blocker / "usage.json"]  # below a file: cannot be created
    counts = {"inline_shown": 2}
    rec = UsageRecorder(lambda: dict(counts), lambda: where[0])
    assert rec.flush() is None
    where[0] = tmp_path / "ok" / "usage.json"
    totals = rec.flush()
    assert totals is not None and totals.inline_shown == 2


def test_doctor_shows_the_totals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QWILL_STATE_DIR", str(tmp_path))
    add_totals({"inline_shown": 8, "inline_accepted": 2, "next_edit_shown": 4, "next_edit_accepted": 3,
                "next_edit_dismissed": 1})
    report = DoctorReport()
    _usage_check(report)
    (check,) = report.checks
    assert check.name == "usage" and check.ok
    assert "inline completion 8 shown, 2 accepted (25%)" in check.detail
    assert "next edits 4 shown, 3 accepted (75%), 1 dismissed" in check.detail
    assert str(tmp_path / "usage-stats.json") in check.detail and "never sent anywhere" in check.detail
    assert report.facts["usage"]["next_edit_accepted"] == 3
