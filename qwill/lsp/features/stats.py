"""`qwill/completionStats`: the completion pipeline's counters (for benchmarks,
`qwill doctor`-style status views and debugging cache behaviour)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..server import QwillServer

COMPLETION_STATS = "qwill/completionStats"


def register(server: QwillServer) -> None:
    @server.feature(COMPLETION_STATS)
    def completion_stats(ls: QwillServer, params: Any) -> dict[str, Any]:
        counters = dataclasses.asdict(ls.session.completion.counters)
        out: dict[str, Any] = {_camel(k): v for k, v in counters.items()}
        out["nextEdit"] = {_camel(k): v for k, v in dataclasses.asdict(ls.session.next_edit.counters).items()}
        return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)
