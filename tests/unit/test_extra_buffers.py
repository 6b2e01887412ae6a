"""llama.cpp's extra CPU buffer types: off for builds with the AMX kernels, unless asked for."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from qwill.config import parse_settings
from qwill.engine.llama import build_has_amx, use_extra_buffers
from qwill.engine.loader import llama_options
from qwill.engine.memory_plan import PlanRequest, plan_memory
from tests.unit.test_memory_plan import LAPTOP_16, mem, qwen3_coder_30b


def _build(system_info: str) -> SimpleNamespace:
    return SimpleNamespace(llama_print_system_info=lambda: system_info.encode())


AMX = _build("CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 | REPACK = 1 | ")
PLAIN = _build("CPU : SSE3 = 1 | AVX2 = 1 | FMA = 1 | REPACK = 1 | ")


def test_amx_builds_are_recognised() -> None:
    assert build_has_amx(AMX)
    assert not build_has_amx(PLAIN)


@pytest.mark.parametrize(("build", "choice", "expected"), [
    (AMX, None, False),    # auto: the AMX path crashes on some CPUs
    (PLAIN, None, True),   # auto: repacking kept where there is no AMX path
    (AMX, True, True),     # the user asked for them
    (PLAIN, False, False),
])
def test_choice(build: SimpleNamespace, choice: bool | None, expected: bool) -> None:
    assert use_extra_buffers(build, choice) is expected


def test_setting_reaches_the_load_options() -> None:
    plan = plan_memory(mem(qwen3_coder_30b("Q4_K_M")), LAPTOP_16, PlanRequest(context_size=8192))
    for value, expected in (("auto", None), ("on", True), ("off", False)):
        engine = parse_settings({"engine": {"cpuExtraBuffers": value}}).settings.engine
        assert llama_options(engine, plan).extra_buffers is expected
    bad = parse_settings({"engine": {"cpuExtraBuffers": "sometimes"}})
    assert bad.problems and bad.settings.engine.cpu_extra_buffers == "auto"
