"""A renamed function or class kept as a deprecated alias: the written module is imported and
run, the old name warns and does what the new one does."""

from __future__ import annotations

import types
import warnings

import pytest

from qwill.agent.alias import AliasError, with_deprecated_alias


def run(source: str) -> types.ModuleType:
    module = types.ModuleType("m")
    exec(compile(source, "m.py", "exec"), module.__dict__)
    return module


def test_a_function_alias_warns_and_forwards_every_argument() -> None:
    text = "import math\n\n\ndef circle_area(r, *, scale=1):\n    return math.pi * r * r * scale\n\n\n" \
           "def area_square(side):\n    return side * side\n"
    out = with_deprecated_alias(text, "area_circle", "circle_area")
    m = run(out)
    with pytest.warns(DeprecationWarning, match="area_circle is deprecated; use circle_area"):
        assert m.area_circle(2, scale=2) == m.circle_area(2, scale=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m.circle_area(1) == pytest.approx(3.14159, rel=1e-4)
    assert out.startswith("import warnings\nimport math\n")
    # the alias sits right after the definition, with the blank lines of top-level code around it
    assert "    return math.pi * r * r * scale\n\n\ndef area_circle(*args, **kwargs):\n" in out
    assert "return circle_area(*args, **kwargs)\n\n\ndef area_square(side):" in out


def test_a_class_alias_is_a_subclass_that_warns_when_made() -> None:
    text = '"""Shapes."""\n\nimport warnings\n\n\n@dataclass_like\nclass Circle:\n' \
           '    def __init__(self, r):\n        self.r = r\n'
    out = with_deprecated_alias(text, "Round", "Circle")
    assert out.count("import warnings") == 1
    m = run("def dataclass_like(c):\n    return c\n\n" + out)
    with pytest.warns(DeprecationWarning, match="Round is deprecated; use Circle"):
        made = m.Round(3)
    assert isinstance(made, m.Circle) and made.r == 3


def test_an_async_function_alias_awaits() -> None:
    import asyncio

    m = run(with_deprecated_alias("async def fetch(x):\n    return x + 1", "get", "fetch"))
    with pytest.warns(DeprecationWarning):
        assert asyncio.run(m.get(1)) == 2


@pytest.mark.parametrize("text,why", [
    ("def other():\n    pass\n", "no top-level function or class new"),
    ("class A:\n    def new(self):\n        pass\n", "no top-level function or class new"),
    ("new = 3\n", "no top-level function or class new"),
    ("def new():\n    pass\n\n\ndef new():\n    pass\n", "defined 2 times"),
    ("def new():\n    pass\n\n\ndef old():\n    pass\n", "old is still defined"),
    ("def new(:\n", "does not parse"),
])
def test_what_cannot_get_an_alias_is_said(text: str, why: str) -> None:
    with pytest.raises(AliasError, match=why):
        with_deprecated_alias(text, "old", "new")
