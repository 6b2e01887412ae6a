"""The machine side: RAM and GPU probing, override patterns, settings, the loader's refusal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qwill.config import EngineSettings, parse_settings
from qwill.engine import loader, placement
from qwill.engine.base import EngineError
from qwill.engine.gguf_reader import read_gguf_header
from qwill.engine.memory_plan import GiB, GpuInfo, Machine
from qwill.engine.placement import (
    EXPERT_OVERRIDE_SUFFIX,
    _cgroup_room,
    _meminfo,
    build_overrides,
    expert_override_patterns,
    load_hooks,
    probe_machine,
)
from tests.tiny_qwen3moe import TINY, toy_moe_file
from tests.unit.test_memory_plan import qwen3_coder_next


@pytest.fixture(scope="module")
def toy_moe_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return toy_moe_file(tmp_path_factory)


def test_meminfo_parsing(tmp_path: Path) -> None:
    f = tmp_path / "meminfo"
    f.write_text("MemTotal:       16314560 kB\nMemFree:  1000 kB\nMemAvailable:   9123456 kB\n"
                 "HugePages_Total:       0\n")
    info = _meminfo(str(f))
    assert info["MemTotal"] == 16314560 * 1024
    assert info["MemAvailable"] == 9123456 * 1024
    assert info["HugePages_Total"] == 0
    assert _meminfo(str(tmp_path / "missing")) == {}


def test_cgroup_limit(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("8589934592\n")
    (tmp_path / "memory.current").write_text("2147483648\n")
    assert _cgroup_room(str(tmp_path)) == 6 * GiB
    (tmp_path / "memory.max").write_text("max\n")
    assert _cgroup_room(str(tmp_path)) is None
    assert _cgroup_room(str(tmp_path / "none")) is None


def test_probe_matches_this_build() -> None:
    import llama_cpp

    m = probe_machine(0, llama_cpp)
    assert 0 < m.ram_available <= m.ram_total
    assert (m.gpu is not None) == bool(llama_cpp.llama_supports_gpu_offload())
    devices = placement.list_devices(llama_cpp)
    assert any(d.kind == "cpu" for d in devices)
    # engine.vramBytes stands in for a backend that cannot report memory
    if m.gpu is None:
        assert probe_machine(8 * GiB, llama_cpp).gpu == GpuInfo("GPU (engine.vramBytes)", 8 * GiB, 8 * GiB)


def test_override_patterns_select_exactly_the_planned_experts() -> None:
    header = qwen3_coder_next()
    names = [t.name for t in header.tensors]
    for n in (1, 3, 10, 47, 48):
        (pattern,) = expert_override_patterns(n, 48)
        matched = {name for name in names if re.search(pattern, name)}
        planned = {t.name for t in header.tensors if t.is_expert and t.layer is not None and t.layer < n}
        assert matched == planned, n
        assert not any("shexp" in name for name in matched)
    assert expert_override_patterns(48, 48) == (EXPERT_OVERRIDE_SUFFIX,)  # --cpu-moe
    assert expert_override_patterns(0, 48) == ()


def test_override_array_is_null_terminated_and_targets_the_cpu() -> None:
    import llama_cpp

    arr = build_overrides(llama_cpp, (r"blk\.(0|1)\.ffn_up_exps", r"\.ffn_down_exps"))
    assert len(arr) == 3
    assert [arr[0].pattern, arr[1].pattern] == [rb"blk\.(0|1)\.ffn_up_exps", rb"\.ffn_down_exps"]
    assert arr[0].buft and arr[0].buft == arr[1].buft
    assert arr[2].pattern is None and not arr[2].buft
    g = placement.ggml(llama_cpp)
    assert g.buft_name(arr[0].buft) == b"CPU"
    with pytest.raises(EngineError, match="bad tensor override pattern"):
        build_overrides(llama_cpp, ("blk.(0",))


def test_load_hooks_patch_only_for_the_load() -> None:
    import llama_cpp

    original = llama_cpp.llama_cpp.llama_model_default_params
    with load_hooks(llama_cpp, (EXPERT_OVERRIDE_SUFFIX,)) as report:
        params = llama_cpp.llama_cpp.llama_model_default_params()
        assert params.tensor_buft_overrides
    assert llama_cpp.llama_cpp.llama_model_default_params is original
    assert not original().tensor_buft_overrides
    assert report.keep_alive is not None and report.overrides == (EXPERT_OVERRIDE_SUFFIX,)


def test_load_report_parses_llama_cpp_lines() -> None:
    rep = placement.LoadReport(lines=[
        "load_tensors:   CPU_Mapped model buffer size =   462.96 MiB\n",
        "load_tensors:        CUDA0 model buffer size = 1024.00 MiB\n",
        "llama_kv_cache:        CUDA0 KV buffer size =    24.00 MiB\n",
        "sched_reserve:      CUDA0 compute buffer size =   300.25 MiB\n",
        "tensor blk.0.ffn_up_exps.weight (144 MiB q4_K) buffer type overridden to CPU\n"])
    rep.parse()
    assert rep.total("model") == int(462.96 * 2**20) + 1024 * 2**20
    assert rep.buffers[("CUDA0", "KV")] == 24 * 2**20
    assert rep.overridden == {"blk.0.ffn_up_exps.weight": "CPU"}


def test_new_engine_settings() -> None:
    r = parse_settings({"engine": {"placement": "experts-on-cpu", "nCpuMoe": 20, "kvCacheType": "q8_0",
                                   "flashAttention": "on", "vramBytes": 8 * GiB, "memoryCheck": False}})
    e = r.settings.engine
    assert not r.problems
    assert (e.placement, e.n_cpu_moe, e.kv_cache_type, e.flash_attention) == ("experts-on-cpu", 20, "q8_0", "on")
    assert (e.vram_bytes, e.memory_check) == (8 * GiB, False)
    bad = parse_settings({"engine": {"placement": "fastest", "kvCacheType": "q2", "nCpuMoe": -1}})
    assert len(bad.problems) == 3
    assert bad.settings.engine.placement == "auto" and bad.settings.engine.kv_cache_type == "f16"


def test_loader_refuses_before_llama_cpp_sees_the_file(toy_moe_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = Machine(ram_available=300 * 2**20, ram_total=1 * GiB)
    monkeypatch.setattr(loader, "probe_machine", lambda *a, **k: tiny)

    def no_load(*a: object, **k: object) -> None:
        raise AssertionError("llama.cpp must not be asked to load a model that does not fit")

    monkeypatch.setattr(loader, "LlamaEngine", no_load)
    with pytest.raises(EngineError) as err:
        loader.load_engine(EngineSettings(model=str(toy_moe_path)))
    text = str(err.value)
    assert "will not fit" in text and "300 MiB is available" in text
    assert "engine.memoryCheck false" in text


def test_plan_drives_the_llama_options(toy_moe_path: Path) -> None:
    header = read_gguf_header(toy_moe_path)
    gpu_box = Machine(8 * GiB, 16 * GiB, GpuInfo("RTX", 4 * GiB, 8 * GiB))
    s = EngineSettings(model=str(toy_moe_path), placement="experts-on-cpu", n_cpu_moe=2, kv_cache_type="q4_0")
    plan = loader.plan_model(s, header, gpu_box)
    opts = loader.llama_options(s, plan)
    assert opts.gpu_layers == -1
    assert opts.cpu_tensor_patterns == expert_override_patterns(2, TINY.n_layer)
    assert (opts.type_k, opts.type_v, opts.flash_attn) == ("q4_0", "q4_0", True)
    auto = loader.llama_options(EngineSettings(), loader.plan_model(EngineSettings(), header, gpu_box))
    assert auto.gpu_layers == -1 and auto.cpu_tensor_patterns == ()  # all of it fits the GPU
    assert auto.type_k is None
