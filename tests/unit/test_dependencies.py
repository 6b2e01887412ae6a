"""The packages qwill loads by name at run time are declared, and deptry's exceptions are exactly those.

deptry (run by `make test`) sees `import x` statements. The grammar wheels and the model chunk
wheels are imported with importlib from names in data, which it cannot follow, so pyproject.toml
lists them as DEP002 exceptions; this test keeps that list true in both directions.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from qwill.context.languages import LANGUAGES
from qwill.engine.resolve import BUILTIN_MODELS

PYPROJECT = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())


def _dist_name(module: str) -> str:
    return module.replace("_", "-")


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0].lower() for req in requirements}


def test_grammar_wheels_are_runtime_dependencies() -> None:
    runtime = _requirement_names(PYPROJECT["project"]["dependencies"])
    missing = {_dist_name(spec.module) for spec in LANGUAGES} - runtime
    assert not missing, f"grammar wheels loaded by qwill but not declared: {sorted(missing)}"


def test_model_chunk_wheels_are_in_their_extras() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    for model in BUILTIN_MODELS.values():
        declared = _requirement_names(extras[model.extra])
        missing = {_dist_name(part) for part in model.parts} - declared
        assert not missing, f"{model.name}: parts not in the [{model.extra}] extra: {sorted(missing)}"


def test_deptry_exceptions_are_exactly_the_dynamic_imports() -> None:
    ignored = set(PYPROJECT["tool"]["deptry"]["per_rule_ignores"]["DEP002"])
    dynamic = {_dist_name(spec.module) for spec in LANGUAGES} | {
        _dist_name(part) for model in BUILTIN_MODELS.values() for part in model.parts
    }
    assert ignored == dynamic, (
        f"not loaded dynamically (remove the exception): {sorted(ignored - dynamic)}; "
        f"loaded dynamically without an exception: {sorted(dynamic - ignored)}"
    )
