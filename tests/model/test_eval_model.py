"""`qwill eval` on the real default model, with a small budget: the run ends by itself, and
what it measured is real (suggestions from the model, scored, in the report)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ..unit.test_eval_mining import PY, TS

pytestmark = pytest.mark.model


def test_eval_on_the_default_model_within_a_small_budget(default_model_path: Path, tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "geometry.py").write_text(PY)
    (tmp_path / "proj" / "cart.ts").write_text(TS)
    out = subprocess.run(
        [sys.executable, "-m", "qwill", "eval", "proj", "--model", str(default_model_path), "--threads", "2",
         "--budget", "90", "--max-holes", "4", "--max-keystrokes", "12", "--out", "r"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr
    (run,) = json.loads((tmp_path / "r" / "report.json").read_text())["runs"]
    assert run["state"] in ("ok", "budget"), run["message"]
    assert run["model_info"].get("name"), run  # the real model's facts, from qwill/status
    answered = run["fim"] + run["keystrokes"]
    assert answered, "nothing was measured within the budget"
    # the model wrote something somewhere, and each outcome is scored against the file
    assert any(f["prediction"].strip() for f in run["fim"]) or any(k["shown"] for k in run["keystrokes"])
    for f in run["fim"]:
        assert 0.0 <= f["similarity"] <= 1.0 and f["target"].strip()
    assert "| model | holes | exact % |" in out.stdout
