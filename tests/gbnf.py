"""A small reader of llama.cpp's GBNF that draws random strings a grammar admits.

Tests use it to check a property of the tool-call grammars over many derivations
(every string the grammar admits is a call that parses and validates); the real
llama.cpp parser and sampler are exercised by the model tests.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

# -- the grammar as a tree ------------------------------------------------------------------


@dataclass
class Lit:
    text: str


@dataclass
class Chars:
    ranges: list[tuple[str, str]]
    negated: bool


@dataclass
class Ref:
    name: str


@dataclass
class Seq:
    items: list


@dataclass
class Alt:
    options: list


@dataclass
class Rep:
    item: object
    lo: int
    hi: int | None


_ESC = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "]": "]", "[": "[", "-": "-", "^": "^", "/": "/"}


class _Reader:
    def __init__(self, src: str) -> None:
        self.s = src
        self.i = 0

    def ws(self, newlines: bool = True) -> None:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "#":
                while self.i < len(self.s) and self.s[self.i] != "\n":
                    self.i += 1
            elif c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            else:
                break

    def name(self) -> str:
        m = re.compile(r"[A-Za-z0-9-]+").match(self.s, self.i)
        assert m, f"rule name expected at {self.s[self.i:self.i + 30]!r}"
        self.i = m.end()
        return m.group(0)

    def char(self) -> str:
        c = self.s[self.i]
        self.i += 1
        if c != "\\":
            return c
        e = self.s[self.i]
        self.i += 1
        if e == "x":
            v = self.s[self.i:self.i + 2]
            self.i += 2
            return chr(int(v, 16))
        if e == "u":
            v = self.s[self.i:self.i + 4]
            self.i += 4
            return chr(int(v, 16))
        return _ESC[e]

    def alternatives(self, nested: bool) -> Alt:
        options = [self.sequence(nested)]
        while self.i < len(self.s) and self.s[self.i] == "|":
            self.i += 1
            self.ws(newlines=True)
            options.append(self.sequence(nested))
        return Alt(options)

    def sequence(self, nested: bool) -> Seq:
        items: list = []
        while True:
            self.ws(newlines=nested)
            if self.i >= len(self.s) or self.s[self.i] in "|)\n":
                return Seq(items)
            c = self.s[self.i]
            if c == '"':
                self.i += 1
                out = ""
                while self.s[self.i] != '"':
                    out += self.char()
                self.i += 1
                item: object = Lit(out)
            elif c == "[":
                self.i += 1
                negated = self.s[self.i] == "^"
                if negated:
                    self.i += 1
                ranges = []
                while self.s[self.i] != "]":
                    a = self.char()
                    b = a
                    if self.s[self.i] == "-" and self.s[self.i + 1] != "]":
                        self.i += 1
                        b = self.char()
                    ranges.append((a, b))
                self.i += 1
                item = Chars(ranges, negated)
            elif c == "(":
                self.i += 1
                self.ws()
                item = self.alternatives(nested=True)
                self.ws()
                assert self.s[self.i] == ")"
                self.i += 1
            else:
                item = Ref(self.name())
            item = self.quantifier(item)
            items.append(item)

    def quantifier(self, item: object) -> object:
        if self.i >= len(self.s):
            return item
        c = self.s[self.i]
        if c in "?*+":
            self.i += 1
            return Rep(item, 0 if c != "+" else 1, 1 if c == "?" else None)
        if c == "{":
            m = re.compile(r"\{(\d+)(,(\d*))?\}").match(self.s, self.i)
            assert m
            self.i = m.end()
            lo = int(m.group(1))
            hi = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
            return Rep(item, lo, hi)
        return item


def parse(src: str) -> dict[str, Alt]:
    """Rules by name; asserts every referenced rule is defined."""
    r = _Reader(src)
    rules: dict[str, Alt] = {}
    while True:
        r.ws()
        if r.i >= len(r.s):
            break
        name = r.name()
        r.ws(newlines=False)
        assert r.s.startswith("::=", r.i), f"::= expected after {name}"
        r.i += 3
        r.ws(newlines=False)
        assert name not in rules, f"rule {name} defined twice"
        rules[name] = r.alternatives(nested=False)

    def refs(node: object) -> None:
        if isinstance(node, Ref):
            assert node.name in rules, f"undefined rule {node.name}"
        elif isinstance(node, (Seq, Alt)):
            for x in getattr(node, "items", None) or node.options:  # type: ignore[union-attr]
                refs(x)
        elif isinstance(node, Rep):
            refs(node.item)

    for alt in rules.values():
        refs(alt)
    assert "root" in rules
    return rules


# -- drawing strings ---------------------------------------------------------------------------
_POOL = list("abcxyz_ parmet019/.<>=-\"'\\{}[]():,\n\té€😀")


class Sampler:
    def __init__(self, rules: dict[str, Alt], rng: random.Random, depth_limit: int = 60) -> None:
        self.rules = rules
        self.rng = rng
        self.depth_limit = depth_limit

    def draw(self, start: str = "root") -> str:
        return self.node(Ref(start), 0)

    def _terminates(self, node: object) -> int:
        """A rough cost to finish `node`: prefer the cheapest option when deep."""
        if isinstance(node, Seq):
            return sum(1 + (isinstance(x, Ref)) for x in node.items if not (isinstance(x, Rep) and x.lo == 0))
        return 1

    def node(self, node: object, depth: int) -> str:
        rng = self.rng
        if isinstance(node, Lit):
            return node.text
        if isinstance(node, Chars):
            for _ in range(200):
                c = rng.choice(_POOL)
                if any(a <= c <= b for a, b in node.ranges) != node.negated:
                    return c
            a, b = node.ranges[0]
            assert not node.negated
            return chr(rng.randint(ord(a), ord(b)))
        if isinstance(node, Ref):
            return self.node(self.rules[node.name], depth + 1)
        if isinstance(node, Seq):
            return "".join(self.node(x, depth) for x in node.items)
        if isinstance(node, Alt):
            options = node.options
            if depth > self.depth_limit:
                options = sorted(options, key=self._terminates)[:1]
            return self.node(rng.choice(options), depth)
        if isinstance(node, Rep):
            hi = node.hi if node.hi is not None else node.lo + 3
            if depth > self.depth_limit:
                hi = node.lo
            n = rng.randint(node.lo, max(node.lo, hi))
            return "".join(self.node(node.item, depth + 1) for _ in range(n))
        raise AssertionError(node)

