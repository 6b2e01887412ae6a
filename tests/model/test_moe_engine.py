"""The MoE paths through real llama.cpp, on a tiny random-weight `qwen3moe` GGUF.

The model is written by the test suite (tests/tiny_qwen3moe.py) with the default
model's real tokenizer: detection, planning against what llama.cpp really
allocates, the experts-on-CPU tensor overrides, a quantized KV cache, and a FIM
request through CompletionService. This machine has no GPU: the overrides target
the CPU buffer type, which proves the list reaches llama.cpp and the model still
loads and generates; GPU placements are covered as plans in tests/unit.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from qwill.completion.service import CompletionRequest, CompletionService
from qwill.config import CompletionSettings, EngineSettings, Settings
from qwill.doctor import run_doctor
from qwill.engine.base import CancelToken, GenerationRequest, GenerationStats
from qwill.engine.fim import detect_template, get_template
from qwill.engine.llama import LlamaEngine
from qwill.engine.loader import load_engine
from qwill.engine.resolve import inspect_model
from qwill.engine.worker import EngineWorker
from tests.tiny_qwen3moe import TINY, tiny_moe_file, tiny_next_file

pytestmark = pytest.mark.model

PROMPT = "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n\nprint(add(1, 2))\n<|fim_middle|>"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, default_model_path: Path) -> Path:
    return tiny_moe_file(tmp_path_factory, default_model_path)


@pytest.fixture(scope="module")
def tiny_next(tmp_path_factory: pytest.TempPathFactory, default_model_path: Path) -> Path:
    return tiny_next_file(tmp_path_factory, default_model_path)


def _load(path: Path, **settings: Any) -> LlamaEngine:
    engine = load_engine(EngineSettings(model=str(path), **{"context_size": 1024, **settings}))
    assert isinstance(engine, LlamaEngine)
    return engine


def _greedy(engine: LlamaEngine, n: int = 12) -> tuple[str, GenerationStats]:
    stats = GenerationStats()
    text = "".join(engine.generate(GenerationRequest(PROMPT, max_tokens=n), CancelToken(), stats))
    return text, stats


def test_detection(tiny: Path) -> None:
    header = inspect_model(tiny)
    assert header.architecture == "qwen3moe"
    assert (header.expert_count, header.expert_used_count) == (TINY.n_expert, TINY.n_expert_used)
    assert header.is_moe and header.active_parameter_count < header.parameter_count
    assert detect_template(header.tokens, architecture=header.architecture).name == "qwen"


@pytest.mark.parametrize("settings", [
    {},
    {"kv_cache_type": "q8_0"},
    {"kv_cache_type": "q4_0", "context_size": 4096},
])
def test_plan_matches_what_llama_cpp_allocates(tiny: Path, settings: dict[str, Any]) -> None:
    engine = _load(tiny, **settings)
    try:
        mem = engine.info.memory
        loaded = mem["loaded"]
        assert mem["fits"] and mem["placement"] == "cpu"
        # llama.cpp prints MiB with two decimals: allow that rounding
        assert loaded["kvBytes"] == pytest.approx(mem["kvBytes"], abs=2**20 // 100)
        assert loaded["computeBytes"] == pytest.approx(mem["computeBytes"], rel=0.05)
        assert loaded["modelBytes"] == pytest.approx(mem["weightsBytes"], rel=0.02)
        text, stats = _greedy(engine)
        assert stats.generated_tokens > 0 and text
    finally:
        engine.close()


def test_plan_matches_the_default_dense_model(default_model_path: Path) -> None:
    engine = _load(default_model_path, context_size=4096)
    try:
        mem = engine.info.memory
        loaded = mem["loaded"]
        assert engine.info.active_parameters == engine.info.parameters  # dense
        assert loaded["kvBytes"] == mem["kvBytes"]
        assert loaded["computeBytes"] == pytest.approx(mem["computeBytes"], rel=0.05)
        # llama.cpp repacks some Q4 tensors into an extra CPU buffer: a few percent more
        assert loaded["modelBytes"] == pytest.approx(mem["weightsBytes"], rel=0.08)
    finally:
        engine.close()


def test_experts_on_cpu_reach_llama_cpp_and_change_only_placement(tiny: Path) -> None:
    cpu = _load(tiny, placement="cpu")
    try:
        assert cpu.load_report.overridden == {}
        expected_text, _ = _greedy(cpu)
    finally:
        cpu.close()

    two = _load(tiny, placement="experts-on-cpu", n_cpu_moe=2)
    try:
        assert two.info.placement == "experts-on-cpu"
        assert two.load_report.overrides == (r"blk\.(0|1)\.ffn_(up|down|gate|gate_up)_(ch|)exps",)
        # llama.cpp names each tensor it moved: the experts of layers 0 and 1, nothing else
        assert two.load_report.overridden == {
            f"blk.{i}.ffn_{kind}_exps.weight": "CPU" for i in (0, 1) for kind in ("up", "down", "gate")}
        text, stats = _greedy(two)
        assert stats.generated_tokens > 0
        assert text == expected_text  # same weights, same greedy tokens
        assert two.info.memory["loaded"]["tensorsInRam"] == 6
    finally:
        two.close()

    every = _load(tiny, placement="experts-on-cpu")  # --cpu-moe
    try:
        assert len(every.load_report.overridden) == 3 * TINY.n_layer
        assert all(".ffn_" in name and "_exps" in name for name in every.load_report.overridden)
        assert _greedy(every)[0] == expected_text
    finally:
        every.close()


def test_fim_request_end_to_end(tiny: Path) -> None:
    worker = EngineWorker()
    try:
        worker.load(lambda: load_engine(EngineSettings(model=str(tiny), context_size=2048,
                                                       placement="experts-on-cpu"))).result()
        engine = worker.engine
        assert engine is not None and engine.info.fim_template == "qwen"
        assert engine.fim is get_template("qwen")
        service = CompletionService(worker, CompletionSettings(max_tokens=8))
        text = "def add(a, b):\n    return \n\nprint(add(1, 2))\n"
        offset = text.index("return ") + len("return ")
        req = CompletionRequest("file:///w/add.py", text, offset, path="add.py", language_id="python")
        suggestion = asyncio.run(service.complete(req))
        assert suggestion is not None and suggestion.source == "model"
        assert (suggestion.start, suggestion.end) == (offset, offset)
        assert suggestion.fim is not None
        prompt = engine.fim.render_parts(suggestion.fim)
        assert prompt.startswith("<|fim_prefix|>") and "<|fim_middle|>" in prompt
        assert suggestion.stats.prompt_tokens > 0 and suggestion.stats.generated_tokens > 0
        assert service.counters.model_calls >= 1
    finally:
        worker.shutdown()


def test_doctor_reports_experts_and_placement(tiny: Path) -> None:
    report = run_doctor(Settings(engine=EngineSettings(model=str(tiny), placement="experts-on-cpu",
                                                       context_size=1024)))
    assert report.ok, report.render()
    model = report.facts["model"]
    assert (model["expert_count"], model["expert_used_count"]) == (TINY.n_expert, TINY.n_expert_used)
    assert model["active_parameters"] < model["parameters"]
    assert report.facts["plan"]["placement"] == "experts-on-cpu"
    text = report.render()
    assert "mixture of experts: 8 experts, 2 used per token" in text
    assert "expert tensors kept in RAM by override" in text


def test_doctor_explains_a_model_that_does_not_fit(tiny: Path) -> None:
    report = run_doctor(Settings(engine=EngineSettings(model=str(tiny), kv_cache_type="q8_0",
                                                       flash_attention="off")))
    assert not report.ok
    placement = next(c for c in report.checks if c.name == "placement")
    assert "needs flash attention" in placement.detail
    assert next(c for c in report.checks if c.name == "load").detail.startswith("not attempted")


def test_status_notification_carries_the_moe_facts(tiny: Path) -> None:
    from qwill.lsp.server import QwillServer
    from qwill.session import ModelState, ModelStatus

    engine = _load(tiny, placement="experts-on-cpu", n_cpu_moe=1)
    try:
        server = QwillServer()
        sent: list[tuple[str, Any]] = []
        server.protocol.notify = lambda method, params=None: sent.append((method, params))  # type: ignore[method-assign]
        server._on_status(ModelStatus(ModelState.READY, "ready", engine.info))
        method, payload = sent[0]
        assert method == "qwill/status"
        model = json.loads(json.dumps(payload))["model"]
        assert (model["expertCount"], model["expertUsedCount"]) == (TINY.n_expert, TINY.n_expert_used)
        assert model["activeParameters"] == engine.header.active_parameter_count
        assert model["placement"] == "experts-on-cpu"
        assert model["memory"]["nCpuMoe"] == 1 and model["memory"]["loaded"]["tensorsInRam"] == 3
    finally:
        engine.close()


def test_qwen3next_hybrid_layers_plan_and_experts(tiny_next: Path) -> None:
    """Qwen3-Coder-Next's architecture: DeltaNet state instead of KV in 3 of 4 layers,
    a shared expert that stays with its layer, routed experts moved by the override."""
    header = inspect_model(tiny_next)
    assert header.architecture == "qwen3next" and header.is_moe
    assert header.recurrent_layers == frozenset({0, 1, 2})
    assert not any(t.is_expert for t in header.tensors if "shexp" in t.name)
    engine = _load(tiny_next, placement="experts-on-cpu", context_size=2048)
    try:
        mem = engine.info.memory
        loaded = mem["loaded"]
        # one attention layer of KV cache plus three layers of recurrent state
        assert loaded["kvBytes"] == pytest.approx(mem["kvBytes"], abs=2**20 // 100)
        assert loaded["computeBytes"] == pytest.approx(mem["computeBytes"], rel=0.05)
        assert set(engine.load_report.overridden) == {
            f"blk.{i}.ffn_{kind}_exps.weight" for i in range(4) for kind in ("up", "down", "gate")}
        text, stats = _greedy(engine)
        assert stats.generated_tokens > 0 and text
    finally:
        engine.close()
