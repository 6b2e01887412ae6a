"""Memory planning on synthetic tensor tables with the real Qwen3-Coder MoE shapes.

The shapes are the published configs:
- Qwen3-Coder-30B-A3B-Instruct (`qwen3moe`): hidden 2048, 48 layers, 32 query / 4 KV
  heads of 128, 128 experts of 768 (8 used), vocab 151,936, untied output, 262,144 context.
- Qwen3-Coder-Next (`qwen3next`, the Qwen3-Next-80B-A3B architecture): hidden 2048,
  48 layers as 12 x (3 Gated DeltaNet + 1 gated attention), 16 query / 2 KV heads of
  256, 512 experts of 512 (10 used) plus a shared expert of 512, DeltaNet with 16 key
  heads / 32 value heads of 128 and a conv kernel of 4, vocab 151,936, 262,144 context.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qwill.engine.gguf_reader import GGUFHeader, TensorInfo
from qwill.engine.memory_plan import (
    GiB,
    GpuInfo,
    Machine,
    MiB,
    ModelMemory,
    Placement,
    PlanRequest,
    compute_bytes,
    estimate,
    kv_cache_bytes,
    plan_memory,
)

# ggml types
F32, F16, Q8_0, Q3_K, Q4_K, Q6_K, IQ2_XXS = 0, 1, 8, 11, 12, 14, 16

# (weights type, output/embedding type) per quant, like llama.cpp's mixes
QUANTS = {"Q8_0": (Q8_0, Q8_0), "Q4_K_M": (Q4_K, Q6_K), "Q3_K_M": (Q3_K, Q6_K), "IQ2_XXS": (IQ2_XXS, Q4_K)}
VOCAB = 151_936


def _header(arch: str, meta: dict, tensors: list[tuple[str, tuple[int, ...], int]]) -> GGUFHeader:
    metadata = {"general.architecture": arch, "general.name": meta.pop("name")}
    metadata.update({f"{arch}.{k}": v for k, v in meta.items()})
    infos, offset = [], 0
    for name, shape, typ in tensors:
        t = TensorInfo(name, shape, typ, offset)
        offset += t.n_bytes
        infos.append(t)
    return GGUFHeader(path=Path(f"/synthetic/{arch}.gguf"), version=3, metadata=metadata, tensors=infos)


def qwen3_coder_30b(quant: str = "Q4_K_M") -> GGUFHeader:
    w, out = QUANTS[quant]
    n_embd, n_layer, n_head, n_kv, hd, n_exp, ff = 2048, 48, 32, 4, 128, 128, 768
    t: list[tuple[str, tuple[int, ...], int]] = [
        ("token_embd.weight", (n_embd, VOCAB), out), ("output_norm.weight", (n_embd,), F32),
        ("output.weight", (n_embd, VOCAB), out)]
    for i in range(n_layer):
        p = f"blk.{i}."
        t += [(p + "attn_norm.weight", (n_embd,), F32), (p + "attn_q.weight", (n_embd, n_head * hd), w),
              (p + "attn_k.weight", (n_embd, n_kv * hd), w), (p + "attn_v.weight", (n_embd, n_kv * hd), out),
              (p + "attn_output.weight", (n_head * hd, n_embd), w), (p + "attn_q_norm.weight", (hd,), F32),
              (p + "attn_k_norm.weight", (hd,), F32), (p + "ffn_norm.weight", (n_embd,), F32),
              (p + "ffn_gate_inp.weight", (n_embd, n_exp), F32),
              (p + "ffn_gate_exps.weight", (n_embd, ff, n_exp), w),
              (p + "ffn_up_exps.weight", (n_embd, ff, n_exp), w),
              (p + "ffn_down_exps.weight", (ff, n_embd, n_exp), out if i % 2 else w)]
    return _header("qwen3moe", {
        "name": f"Qwen3-Coder-30B-A3B-Instruct {quant}", "block_count": n_layer,
        "context_length": 262_144, "embedding_length": n_embd, "feed_forward_length": 6144,
        "attention.head_count": n_head, "attention.head_count_kv": n_kv, "attention.key_length": hd,
        "attention.value_length": hd, "expert_count": n_exp, "expert_used_count": 8,
        "expert_feed_forward_length": ff}, t)


def qwen3_coder_next(quant: str = "Q4_K_M") -> GGUFHeader:
    w, out = QUANTS[quant]
    n_embd, n_layer, n_head, n_kv, hd, n_exp, ff = 2048, 48, 16, 2, 256, 512, 512
    k_heads, v_heads, d_head, conv = 16, 32, 128, 4
    d_inner = v_heads * d_head
    t: list[tuple[str, tuple[int, ...], int]] = [
        ("token_embd.weight", (n_embd, VOCAB), out), ("output_norm.weight", (n_embd,), F32),
        ("output.weight", (n_embd, VOCAB), out)]
    for i in range(n_layer):
        p = f"blk.{i}."
        t += [(p + "attn_norm.weight", (n_embd,), F32), (p + "post_attention_norm.weight", (n_embd,), F32)]
        if (i + 1) % 4:  # Gated DeltaNet
            qkv = 2 * k_heads * d_head + d_inner
            t += [(p + "attn_qkv.weight", (n_embd, qkv), w), (p + "attn_gate.weight", (n_embd, d_inner), w),
                  (p + "ssm_ba.weight", (n_embd, 2 * v_heads), w), (p + "ssm_a", (v_heads,), F32),
                  (p + "ssm_dt.bias", (v_heads,), F32), (p + "ssm_conv1d.weight", (conv, qkv), F32),
                  (p + "ssm_norm.weight", (d_head,), F32), (p + "ssm_out.weight", (d_inner, n_embd), w)]
        else:  # gated full attention (query and gate in one projection)
            t += [(p + "attn_q.weight", (n_embd, 2 * n_head * hd), w),
                  (p + "attn_k.weight", (n_embd, n_kv * hd), w), (p + "attn_v.weight", (n_embd, n_kv * hd), out),
                  (p + "attn_output.weight", (n_head * hd, n_embd), w),
                  (p + "attn_q_norm.weight", (hd,), F32), (p + "attn_k_norm.weight", (hd,), F32)]
        t += [(p + "ffn_gate_inp.weight", (n_embd, n_exp), F32),
              (p + "ffn_gate_exps.weight", (n_embd, ff, n_exp), w),
              (p + "ffn_up_exps.weight", (n_embd, ff, n_exp), w),
              (p + "ffn_down_exps.weight", (ff, n_embd, n_exp), out if i % 2 else w),
              (p + "ffn_gate_inp_shexp.weight", (n_embd,), F32),
              (p + "ffn_gate_shexp.weight", (n_embd, ff), w), (p + "ffn_up_shexp.weight", (n_embd, ff), w),
              (p + "ffn_down_shexp.weight", (ff, n_embd), out)]
    return _header("qwen3next", {
        "name": f"Qwen3-Coder-Next {quant}", "block_count": n_layer, "context_length": 262_144,
        "embedding_length": n_embd, "feed_forward_length": 5120, "attention.head_count": n_head,
        "attention.head_count_kv": n_kv, "attention.key_length": hd, "attention.value_length": hd,
        "expert_count": n_exp, "expert_used_count": 10, "expert_feed_forward_length": ff,
        "expert_shared_feed_forward_length": ff, "full_attention_interval": 4,
        "ssm.conv_kernel": conv, "ssm.state_size": d_head, "ssm.group_count": k_heads,
        "ssm.time_step_rank": v_heads, "ssm.inner_size": d_inner}, t)


def mem(header: GGUFHeader) -> ModelMemory:
    return ModelMemory.from_header(header)


# Machines, with what their owners typically have free.
LAPTOP_16 = Machine(ram_available=13 * GiB, ram_total=16 * GiB)  # CPU only, IDE and browser open
WORKSTATION_64 = Machine(ram_available=58 * GiB, ram_total=64 * GiB)  # CPU only
RTX_24_RAM_64 = Machine(60 * GiB, 64 * GiB, GpuInfo("NVIDIA GeForce RTX 4090", 23 * GiB, 24 * GiB))
RTX_8_RAM_32 = Machine(28 * GiB, 32 * GiB, GpuInfo("NVIDIA GeForce RTX 4060", 7 * GiB, 8 * GiB))
# Apple M3 Pro 36 GB: Metal's working-set limit is about three quarters of RAM
APPLE_36 = Machine(30 * GiB, 36 * GiB, GpuInfo("Apple M3 Pro", 27 * GiB, 27 * GiB, unified=True))


def test_published_parameter_counts() -> None:
    coder = mem(qwen3_coder_30b())
    assert 30.3e9 < coder.total_params < 30.7e9  # "30.5B in total"
    assert 3.2e9 < coder.active_params < 3.5e9  # "3.3B activated"
    assert (coder.expert_count, coder.expert_used_count, coder.n_ff_exp) == (128, 8, 768)
    nxt = mem(qwen3_coder_next())
    assert 79e9 < nxt.total_params < 81e9  # "80B"
    assert 3.0e9 < nxt.active_params < 4.0e9  # "3B activated" (+ embeddings)
    assert (nxt.expert_count, nxt.expert_used_count, nxt.n_ff_exp) == (512, 10, 512)
    # the shared expert is not routed: it is part of the dense share
    assert nxt.is_moe and coder.is_moe


def test_quant_sizes_are_those_of_the_published_files() -> None:
    # Q4_K_M files: 30B-A3B ~18.6 GB, Next ~48.5 GB; Q8_0: ~32.5 GB and ~84.8 GB
    assert 16.5 * GiB < mem(qwen3_coder_30b("Q4_K_M")).weight_bytes < 18 * GiB
    assert 29 * GiB < mem(qwen3_coder_30b("Q8_0")).weight_bytes < 31 * GiB
    assert 43 * GiB < mem(qwen3_coder_next("Q4_K_M")).weight_bytes < 47 * GiB
    assert 77 * GiB < mem(qwen3_coder_next("Q8_0")).weight_bytes < 81 * GiB


def test_kv_cache_sizes() -> None:
    coder = mem(qwen3_coder_30b())
    # 48 layers x (4 KV heads x 128) x (K + V) x f16
    assert kv_cache_bytes(coder, 32768) == 48 * 32768 * 512 * 2 * 2 == 3 * GiB
    assert kv_cache_bytes(coder, 32768, "q8_0") == 48 * 32768 * (512 // 32 * 34) * 2
    assert kv_cache_bytes(coder, 32768, "q4_0") == 48 * 32768 * (512 // 32 * 18) * 2
    nxt = mem(qwen3_coder_next())
    # only every 4th layer attends; the 36 DeltaNet layers keep a fixed f32 state
    assert nxt.kv_layers == 12
    assert kv_cache_bytes(nxt, 32768) == 12 * 32768 * 512 * 2 * 2 == 768 * MiB
    conv, state = 3 * (4096 + 2 * 16 * 128), 128 * 4096
    assert nxt.recurrent_state_bytes == 36 * 4 * (conv + state)


def test_compute_buffer_follows_llama_cpp() -> None:
    coder = mem(qwen3_coder_30b())
    logits = 512 * VOCAB * 4
    # with flash attention the logits dominate; without, the attention scores grow with n_ctx
    assert logits < compute_bytes(coder, 32768, 512, True) < logits + 64 * MiB
    assert compute_bytes(coder, 32768, 512, False) > 32 * 32768 * 512 * 4


# -- what `auto` decides on real machines ----------------------------------------------


def test_laptop_16gb_refuses_30b_q4_and_says_what_fits() -> None:
    plan = plan_memory(mem(qwen3_coder_30b("Q4_K_M")), LAPTOP_16, PlanRequest(context_size=32768))
    assert not plan.fits
    text = plan.refusal()
    assert "13.0 GiB is available" in text
    assert "all on the CPU" in text
    assert "smaller quant" in text
    assert "engine.memoryCheck false" in text
    # Q4_K_M is 17+ GiB of weights: no context or KV type saves it, so none is offered
    assert not any(a.startswith(("engine.contextSize", "engine.kvCacheType")) for a in plan.alternatives)


def test_laptop_16gb_runs_a_2bit_30b_on_the_cpu() -> None:
    plan = plan_memory(mem(qwen3_coder_30b("IQ2_XXS")), LAPTOP_16, PlanRequest(context_size=16384))
    assert plan.fits
    assert plan.placement == Placement.cpu()
    assert plan.estimate.vram_bytes == 0
    assert plan.estimate.ram_bytes < 13 * GiB


def test_laptop_16gb_and_next_suggests_a_smaller_model() -> None:
    plan = plan_memory(mem(qwen3_coder_next("Q4_K_M")), LAPTOP_16, PlanRequest(context_size=32768))
    assert not plan.fits
    assert any("smaller model" in a for a in plan.alternatives)
    assert any("GPU" in a for a in plan.alternatives)


def test_24gb_gpu_holds_all_of_30b_q4() -> None:
    plan = plan_memory(mem(qwen3_coder_30b("Q4_K_M")), RTX_24_RAM_64, PlanRequest(context_size=32768))
    assert plan.fits
    assert plan.placement.mode == "gpu"
    assert plan.placement.llama_gpu_layers == -1
    assert plan.estimate.flash_attn  # auto: layers on the GPU
    assert plan.estimate.vram_bytes <= 23 * GiB
    assert plan.estimate.weights_ram < 400 * MiB  # only the token embeddings stay in RAM


def test_24gb_gpu_keeps_experts_of_the_first_layers_of_next_in_ram() -> None:
    model = mem(qwen3_coder_next("Q4_K_M"))
    req = PlanRequest(context_size=32768)
    plan = plan_memory(model, RTX_24_RAM_64, req)
    assert plan.fits
    p = plan.placement
    assert p.mode == "experts-on-cpu"
    assert 0 < p.cpu_moe < model.n_layer
    # the fewest layers' experts in RAM that fit: one fewer does not fit the GPU
    tighter = estimate(model, Placement.experts_on_cpu(model, p.cpu_moe - 1), 32768,
                       flash_attn=True, gpu=RTX_24_RAM_64.gpu)
    assert tighter.vram_bytes > 23 * GiB
    assert plan.estimate.vram_bytes <= 23 * GiB
    # those experts are what sits in RAM (plus the token embeddings)
    assert plan.estimate.weights_ram == model.input_bytes + sum(model.expert_bytes[:p.cpu_moe])
    assert "engine.nCpuMoe" in p.settings_hint(model)
    # more bits per weight: more layers' experts move to RAM
    q8 = plan_memory(mem(qwen3_coder_next("Q8_0")), RTX_24_RAM_64, req)
    assert q8.fits and q8.placement.mode == "experts-on-cpu"
    assert q8.placement.cpu_moe > p.cpu_moe


def test_8gb_gpu_runs_30b_with_experts_in_ram() -> None:
    plan = plan_memory(mem(qwen3_coder_30b("Q4_K_M")), RTX_8_RAM_32, PlanRequest(context_size=32768))
    assert plan.fits
    assert plan.placement.mode == "experts-on-cpu"
    assert plan.estimate.vram_bytes <= 7 * GiB
    assert plan.estimate.ram_bytes <= 28 * GiB


def test_8gb_gpu_refuses_next_q4_and_offers_a_quant_that_fits_ram_plus_vram() -> None:
    plan = plan_memory(mem(qwen3_coder_next("Q4_K_M")), RTX_8_RAM_32, PlanRequest(context_size=32768))
    assert not plan.fits
    assert "no placement fits" in plan.problems[0]
    assert "RTX 4060" in plan.problems[0]
    quant = next(a for a in plan.alternatives if "smaller quant" in a)
    # RAM + VRAM (~35 GiB) hold about 3 bits per weight of 80B, not Q4
    assert "IQ3_XXS" in quant or "Q2_K" in quant


def test_apple_36gb_runs_30b_q4_on_the_gpu_and_refuses_q8() -> None:
    plan = plan_memory(mem(qwen3_coder_30b("Q4_K_M")), APPLE_36, PlanRequest(context_size=32768))
    assert plan.fits
    assert plan.placement.mode == "gpu"
    assert plan.estimate.overhead_vram == 0  # no discrete-GPU driver reserve
    q8 = plan_memory(mem(qwen3_coder_30b("Q8_0")), APPLE_36, PlanRequest(context_size=32768))
    assert not q8.fits
    assert "shared with the GPU" in q8.problems[0]
    assert any("Q6_K" in a or "Q5_K_M" in a for a in q8.alternatives)


def test_apple_never_plans_experts_on_cpu() -> None:
    # unified memory: moving experts "to RAM" frees nothing
    nxt = mem(qwen3_coder_next("IQ2_XXS"))
    plan = plan_memory(nxt, APPLE_36, PlanRequest(context_size=32768))
    assert plan.fits
    assert plan.placement.mode in ("gpu", "partial")


def test_cpu_workstation_runs_next_q4() -> None:
    plan = plan_memory(mem(qwen3_coder_next("Q4_K_M")), WORKSTATION_64, PlanRequest(context_size=65536))
    assert plan.fits
    assert plan.placement.mode == "cpu"
    assert plan.estimate.ram_bytes < 58 * GiB


# -- explicit settings --------------------------------------------------------------


def test_smaller_context_and_quantized_kv_are_offered_when_they_fit() -> None:
    machine = Machine(ram_available=36 * GiB, ram_total=48 * GiB)
    plan = plan_memory(mem(qwen3_coder_30b("Q4_K_M")), machine,
                       PlanRequest(context_size=262_144, placement="cpu"))
    assert not plan.fits  # 17 GiB of weights + 24 GiB of f16 KV
    assert any(a.startswith("engine.contextSize 131072") for a in plan.alternatives)
    assert any(a.startswith("engine.kvCacheType q8_0") for a in plan.alternatives)
    ok = plan_memory(mem(qwen3_coder_30b("Q4_K_M")), machine,
                     PlanRequest(context_size=262_144, placement="cpu", kv_type="q8_0"))
    assert ok.fits
    assert ok.estimate.flash_attn  # required for a quantized V cache


def test_quantized_kv_without_flash_attention_is_refused() -> None:
    plan = plan_memory(mem(qwen3_coder_30b()), WORKSTATION_64,
                       PlanRequest(kv_type="q4_0", flash_attention="off"))
    assert not plan.fits
    assert "needs flash attention" in plan.problems[0]
    # a setting, not memory: no "what fits instead"
    assert plan.refusal().startswith("cannot load Qwen3-Coder-30B-A3B-Instruct Q4_K_M: engine.kvCacheType q4_0")
    assert plan.alternatives == []


def test_experts_on_cpu_needs_experts() -> None:
    dense = GGUFHeader(Path("d.gguf"), 3, {"general.architecture": "qwen2", "general.name": "Dense",
                                            "qwen2.block_count": 1, "qwen2.embedding_length": 64,
                                            "qwen2.attention.head_count": 4},
                       [TensorInfo("token_embd.weight", (64, 1000), F16, 0),
                        TensorInfo("blk.0.ffn_up.weight", (64, 256), F16, 0)])
    plan = plan_memory(ModelMemory.from_header(dense), RTX_24_RAM_64, PlanRequest(placement="experts-on-cpu"))
    assert not plan.fits
    assert "needs a mixture-of-experts model" in plan.problems[0]


def test_n_cpu_moe_moves_exactly_those_layers_experts() -> None:
    model = mem(qwen3_coder_30b("Q4_K_M"))
    plan = plan_memory(model, RTX_24_RAM_64, PlanRequest(placement="experts-on-cpu", n_cpu_moe=10))
    assert plan.fits
    assert plan.placement == Placement("experts-on-cpu", 49, 10)
    assert plan.estimate.weights_ram == model.input_bytes + sum(model.expert_bytes[:10])
    every = plan_memory(model, RTX_24_RAM_64, PlanRequest(placement="experts-on-cpu"))
    assert every.placement.cpu_moe == 48  # --cpu-moe
    assert every.estimate.weights_vram < 2 * GiB


def test_explicit_gpu_that_does_not_fit_points_to_experts_on_cpu() -> None:
    plan = plan_memory(mem(qwen3_coder_30b("Q4_K_M")), RTX_8_RAM_32,
                       PlanRequest(context_size=32768, placement="gpu"))
    assert not plan.fits
    assert "GPU memory" in plan.problems[0]
    assert plan.alternatives[0].startswith("engine.placement experts-on-cpu, engine.nCpuMoe")


def test_partial_offload_counts_the_output_as_a_layer() -> None:
    model = mem(qwen3_coder_30b("Q4_K_M"))
    # n_gpu_layers 1: only the output head on the GPU; 49: everything
    one = estimate(model, Placement.partial(model, 1), 4096, gpu=RTX_24_RAM_64.gpu)
    assert one.weights_vram == model.output_bytes
    assert Placement.partial(model, 49) == Placement.full_gpu(model)
    ten = estimate(model, Placement.partial(model, 10), 4096, gpu=RTX_24_RAM_64.gpu)
    last_nine = sum(model.layer_bytes[39:]) + sum(model.expert_bytes[39:])
    assert ten.weights_vram == model.output_bytes + last_nine


def test_gpu_placement_without_a_gpu_runs_on_the_cpu() -> None:
    model = mem(qwen3_coder_30b("IQ2_XXS"))
    plan = plan_memory(model, LAPTOP_16, PlanRequest(placement="experts-on-cpu", context_size=8192))
    cpu = plan_memory(model, LAPTOP_16, PlanRequest(placement="cpu", context_size=8192))
    assert plan.fits
    assert plan.estimate.vram_bytes == 0
    assert plan.estimate.ram_bytes == cpu.estimate.ram_bytes
    assert any("no GPU" in n for n in plan.notes)
    assert plan.summary().startswith("all on the CPU (no GPU here")


def test_unknown_vram_plans_for_the_cpu_and_says_so() -> None:
    machine = Machine(60 * GiB, 64 * GiB, GpuInfo("Vulkan0", None))
    plan = plan_memory(mem(qwen3_coder_30b()), machine, PlanRequest(context_size=8192))
    assert plan.placement.mode == "cpu"
    assert any("engine.vramBytes" in n for n in plan.notes)


def test_context_is_capped_at_the_trained_length() -> None:
    plan = plan_memory(mem(qwen3_coder_30b()), WORKSTATION_64, PlanRequest(context_size=1_048_576))
    assert plan.estimate.n_ctx == 262_144
    assert any("capped" in n for n in plan.notes)


@pytest.mark.parametrize(("setting", "kv", "ctx", "expected"), [
    ("auto", "f16", 4096, False),  # short context on the CPU: plain attention
    ("auto", "q8_0", 4096, True),  # a quantized V cache needs it
    ("auto", "f16", 65536, True),  # the scores would dwarf the logits
    ("off", "f16", 65536, False),
    ("on", "f16", 4096, True),
])
def test_flash_attention_auto(setting: str, kv: str, ctx: int, expected: bool) -> None:
    plan = plan_memory(mem(qwen3_coder_30b()), WORKSTATION_64,
                       PlanRequest(context_size=ctx, kv_type=kv, flash_attention=setting, placement="cpu"))
    assert plan.estimate.flash_attn is expected


# -- the README's "which quant fits which machine" table ----------------------------------

README_MACHINES = {
    "16 GB laptop, CPU only": LAPTOP_16,
    "32 GB laptop, CPU only": Machine(28 * GiB, 32 * GiB),
    "64 GB desktop, CPU only": WORKSTATION_64,
    "8 GB GPU + 32 GB RAM": RTX_8_RAM_32,
    "16 GB GPU + 64 GB RAM": Machine(58 * GiB, 64 * GiB, GpuInfo("16 GB GPU", 15 * GiB, 16 * GiB)),
    "24 GB GPU + 64 GB RAM": Machine(58 * GiB, 64 * GiB, GpuInfo("24 GB GPU", 23 * GiB, 24 * GiB)),
    "Apple 36 GB": APPLE_36,
    "Apple 64 GB": Machine(56 * GiB, 64 * GiB, GpuInfo("Apple M", 48 * GiB, 48 * GiB, unified=True)),
    "Apple 128 GB": Machine(120 * GiB, 128 * GiB, GpuInfo("Apple M", 96 * GiB, 96 * GiB, unified=True)),
}


def readme_fit_rows() -> list[str]:
    models = [("30B-A3B", qwen3_coder_30b, q) for q in ("IQ2_XXS", "Q4_K_M", "Q8_0")]
    models += [("Next", qwen3_coder_next, q) for q in ("IQ2_XXS", "Q4_K_M", "Q8_0")]
    rows = []
    for name, machine in README_MACHINES.items():
        cells = []
        for _, shape, quant in models:
            model = mem(shape(quant))
            plan = plan_memory(model, machine, PlanRequest(context_size=32768))
            p = plan.placement
            if not plan.fits:
                cells.append("—")
            elif p.mode == "experts-on-cpu":
                cells.append("experts in RAM" if p.cpu_moe >= model.n_layer
                             else f"GPU + experts of {p.cpu_moe} layers in RAM")
            else:
                cells.append({"cpu": "CPU", "gpu": "GPU"}.get(p.mode, f"{p.gpu_layers - 1} GPU layers"))
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


def test_readme_fit_table_is_what_qwill_plans() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for row in readme_fit_rows():
        assert row in readme, f"README's MoE table is out of date; expected row:\n{row}"
