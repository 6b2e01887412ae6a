"""Memory planning: will a model fit this machine, and where should its tensors go?

Everything here is arithmetic on a GGUF's tensor table and a description of the
machine, so it runs in microseconds, before llama.cpp touches the file, and is
tested on synthetic tables for models this machine could never hold.

The estimates follow llama.cpp's own allocation (checked against the buffer
sizes it reports when it loads; see tests/model/test_moe_engine.py):

- weights: the tensors' bytes, split by device. llama.cpp keeps the token
  embeddings in RAM, puts the output head on the GPU only when every layer is
  offloaded (`n_gpu_layers` counts the output as one more layer), and offloads
  the *last* layers first. Tensor buffer-type overrides (`--cpu-moe`,
  `--n-cpu-moe N`) keep the routed experts of the first N layers in RAM.
- KV cache: n_ctx x (n_head_kv x key_length, n_head_kv x value_length) per
  attention layer in the cache type (f16, q8_0, q4_0), on the device of its
  layer. Recurrent layers (Qwen3-Next's Gated DeltaNet) hold a fixed f32 state
  instead.
- compute: the largest scratch of one micro-batch (logits n_ubatch x n_vocab
  f32, or the attention scores n_head x n_ctx x n_ubatch without flash
  attention, or the experts' activations) plus a little.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .gguf_reader import GGUFHeader

MiB = 1 << 20
GiB = 1 << 30

# KV cache element types: (block size, bytes per block).
KV_TYPES: dict[str, tuple[int, int]] = {"f32": (1, 4), "f16": (1, 2), "q8_0": (32, 34), "q4_0": (32, 18)}
QUANTIZED_KV = ("q8_0", "q4_0")

# Python, llama.cpp's runtime, tokenizer tables and output buffers.
RUNTIME_RAM = 384 * MiB
# A discrete GPU's driver context and allocator slack.
GPU_RESERVE = 512 * MiB

# Approximate bits per weight of common GGUF quantizations, largest first.
QUANT_BITS: tuple[tuple[str, float], ...] = (
    ("Q8_0", 8.5), ("Q6_K", 6.56), ("Q5_K_M", 5.69), ("Q4_K_M", 4.85), ("IQ4_XS", 4.25),
    ("Q3_K_M", 3.91), ("IQ3_XXS", 3.06), ("Q2_K", 2.96), ("IQ2_XXS", 2.06),
)

PLACEMENT_MODES = ("auto", "cpu", "gpu", "experts-on-cpu")
FLASH_MODES = ("auto", "on", "off")


def fmt_bytes(n: int) -> str:
    """Human size in binary units, the way llama.cpp and OS tools report memory."""
    if n >= GiB:
        return f"{n / GiB:.1f} GiB"
    return f"{n / MiB:.0f} MiB" if n >= 10 * MiB else f"{n / MiB:.1f} MiB"


def fmt_params(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


# -- the model ----------------------------------------------------------------


@dataclass(frozen=True)
class ModelMemory:
    """What memory planning needs to know about a model, read from its GGUF."""

    name: str
    architecture: str
    n_layer: int
    n_embd: int
    n_vocab: int
    n_head: int
    n_head_kv: int
    key_length: int
    value_length: int
    # token embeddings: llama.cpp always keeps them in RAM
    input_bytes: int
    # output norm and head: on the GPU only when every layer is offloaded
    output_bytes: int
    # per layer, without routed experts
    layer_bytes: tuple[int, ...]
    # per layer, routed experts only
    expert_bytes: tuple[int, ...]
    total_params: int
    active_params: int
    context_length: int | None = None
    expert_count: int = 0
    expert_used_count: int = 0
    n_ff_exp: int = 0
    # the output head reuses the token embeddings (a copy goes to the GPU)
    tied_output: bool = False
    # layers with a KV cache; the others keep a recurrent state
    attention_layers: int = -1
    recurrent_state_bytes: int = 0

    @property
    def is_moe(self) -> bool:
        return self.expert_count > 1 and sum(self.expert_bytes) > 0

    @property
    def kv_layers(self) -> int:
        return self.n_layer if self.attention_layers < 0 else self.attention_layers

    @property
    def weight_bytes(self) -> int:
        return self.input_bytes + self.output_bytes + sum(self.layer_bytes) + sum(self.expert_bytes)

    @property
    def bits_per_weight(self) -> float:
        return self.weight_bytes * 8 / self.total_params if self.total_params else 0.0

    @classmethod
    def from_header(cls, header: GGUFHeader) -> ModelMemory:
        n_layer = header.block_count
        layer = [0] * n_layer
        experts = [0] * n_layer
        input_bytes = output_bytes = 0
        has_output = False
        n_ff_exp = 0
        for t in header.tensors:
            i = t.layer
            if i is None or i >= n_layer:
                if t.name.startswith("token_embd."):
                    input_bytes += t.n_bytes
                else:
                    output_bytes += t.n_bytes
                    has_output = has_output or t.name == "output.weight"
            elif t.is_expert:
                experts[i] += t.n_bytes
                if not n_ff_exp and len(t.shape) == 3 and "down" not in t.name:
                    n_ff_exp = t.shape[1]
            else:
                layer[i] += t.n_bytes
        recurrent = header.recurrent_layers
        return cls(
            name=header.name,
            architecture=header.architecture,
            n_layer=n_layer,
            n_embd=header.embedding_length,
            n_vocab=header.vocab_size,
            n_head=header.head_count,
            n_head_kv=header.head_count_kv,
            key_length=header.key_length,
            value_length=header.value_length,
            input_bytes=input_bytes,
            output_bytes=output_bytes,
            layer_bytes=tuple(layer),
            expert_bytes=tuple(experts),
            total_params=header.parameter_count,
            active_params=header.active_parameter_count,
            context_length=header.context_length,
            expert_count=header.expert_count,
            expert_used_count=header.expert_used_count,
            n_ff_exp=int(header.arch_value("expert_feed_forward_length", 0) or 0) or n_ff_exp,
            tied_output=not has_output,
            attention_layers=n_layer - len(recurrent),
            recurrent_state_bytes=len(recurrent) * _recurrent_state_per_layer(header),
        )


def _recurrent_state_per_layer(header: GGUFHeader) -> int:
    """llama.cpp's f32 recurrent state of one layer: conv window + SSM/delta state."""
    d_conv = header._arch_int("ssm.conv_kernel")
    d_inner = header._arch_int("ssm.inner_size")
    d_state = header._arch_int("ssm.state_size")
    n_group = header._arch_int("ssm.group_count")
    conv = max(d_conv - 1, 0) * (d_inner + 2 * n_group * d_state)
    return 4 * (conv + d_state * d_inner)


# -- the machine ----------------------------------------------------------------


@dataclass(frozen=True)
class GpuInfo:
    name: str
    # memory Qwill may use; None when the backend does not say (set engine.vramBytes)
    vram_free: int | None
    vram_total: int | None = None
    # Apple silicon and other integrated GPUs share RAM with the CPU
    unified: bool = False


@dataclass(frozen=True)
class Machine:
    ram_available: int
    ram_total: int = 0
    gpu: GpuInfo | None = None
    description: str = ""

    @property
    def can_plan_gpu(self) -> bool:
        return self.gpu is not None and self.gpu.vram_free is not None


# -- placements -----------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where the tensors go, in llama.cpp's terms.

    `gpu_layers` counts like `n_gpu_layers`: the output head is one more layer,
    offloaded first, then the repeating layers from the last one down.
    `cpu_moe` is `--n-cpu-moe`: the routed experts of the first N layers stay
    in RAM even when their layer is on the GPU.
    """

    mode: str  # "cpu" | "gpu" | "experts-on-cpu" | "partial"
    gpu_layers: int = 0
    cpu_moe: int = 0

    @staticmethod
    def cpu() -> Placement:
        return Placement("cpu", 0, 0)

    @staticmethod
    def full_gpu(model: ModelMemory) -> Placement:
        return Placement("gpu", model.n_layer + 1, 0)

    @staticmethod
    def experts_on_cpu(model: ModelMemory, n: int | None = None) -> Placement:
        n = model.n_layer if n is None else max(0, min(n, model.n_layer))
        return Placement("experts-on-cpu", model.n_layer + 1, n)

    @staticmethod
    def partial(model: ModelMemory, gpu_layers: int) -> Placement:
        g = max(0, min(gpu_layers, model.n_layer + 1))
        if g == 0:
            return Placement.cpu()
        if g == model.n_layer + 1:
            return Placement.full_gpu(model)
        return Placement("partial", g, 0)

    @property
    def uses_gpu(self) -> bool:
        return self.gpu_layers > 0

    @property
    def llama_gpu_layers(self) -> int:
        """The `n_gpu_layers` to pass: -1 for everything."""
        return -1 if self.mode in ("gpu", "experts-on-cpu") else self.gpu_layers

    def first_gpu_layer(self, model: ModelMemory) -> int:
        return model.n_layer + 1 - self.gpu_layers

    def output_on_gpu(self, model: ModelMemory) -> bool:
        return self.gpu_layers >= 1

    def describe(self, model: ModelMemory) -> str:
        if self.mode == "cpu":
            return "all on the CPU"
        if self.mode == "gpu":
            return "all layers on the GPU"
        if self.mode == "experts-on-cpu":
            if self.cpu_moe >= model.n_layer:
                return "experts on the CPU (all layers' experts in RAM), the rest on the GPU"
            return (f"experts of the first {self.cpu_moe} of {model.n_layer} layers in RAM, "
                    "the rest on the GPU")
        return f"{self.gpu_layers - 1} of {model.n_layer} layers and the output on the GPU"

    def settings_hint(self, model: ModelMemory) -> str:
        """The settings that select this placement."""
        if self.mode == "cpu":
            return "engine.placement cpu"
        if self.mode == "gpu":
            return "engine.placement gpu"
        if self.mode == "experts-on-cpu":
            if self.cpu_moe >= model.n_layer:
                return "engine.placement experts-on-cpu"
            return f"engine.placement experts-on-cpu, engine.nCpuMoe {self.cpu_moe}"
        return f"engine.placement gpu, engine.gpuLayers {self.gpu_layers}"


# -- estimates ------------------------------------------------------------------


def _row_bytes(n: int, kv_type: str) -> int:
    block, size = KV_TYPES[kv_type]
    return (n + block - 1) // block * size


def kv_cache_bytes_per_layer(model: ModelMemory, n_ctx: int, kv_type: str = "f16") -> int:
    k = _row_bytes(model.n_head_kv * model.key_length, kv_type)
    v = _row_bytes(model.n_head_kv * model.value_length, kv_type)
    return n_ctx * (k + v)


def kv_cache_bytes(model: ModelMemory, n_ctx: int, kv_type: str = "f16") -> int:
    """The KV cache llama.cpp allocates for `n_ctx` tokens (one sequence)."""
    return model.kv_layers * kv_cache_bytes_per_layer(model, n_ctx, kv_type)


def compute_bytes(model: ModelMemory, n_ctx: int, n_ubatch: int, flash_attn: bool,
                  *, logits: bool = True) -> int:
    """The compute buffer for one micro-batch: the largest live scratch plus a margin."""
    scratch = [n_ubatch * model.n_vocab * 4 if logits else 0]
    if model.kv_layers:
        mask = n_ctx * n_ubatch * (2 if flash_attn else 4)
        scores = 0 if flash_attn else model.n_head * n_ctx * n_ubatch * 4
        scratch.append(scores + mask)
    if model.is_moe:
        scratch.append(3 * n_ubatch * model.n_ff_exp * max(model.expert_used_count, 1) * 4)
    return max(scratch) + 2 * n_ubatch * model.n_embd * 4 + 4 * MiB


def flash_attention_wanted(model: ModelMemory, setting: str, kv_type: str, placement: Placement,
                           n_ctx: int, n_ubatch: int) -> bool:
    """Resolve `engine.flashAttention`.

    `auto` turns it on where it is needed or clearly better: a quantized KV cache
    (llama.cpp requires it for a quantized V cache), layers on the GPU, or a
    context long enough that the attention scores would outgrow the logits.
    Otherwise the CPU keeps llama.cpp's plain attention.
    """
    if setting in ("on", "off"):
        return setting == "on"
    if kv_type in QUANTIZED_KV or placement.uses_gpu:
        return True
    return compute_bytes(model, n_ctx, n_ubatch, False) > compute_bytes(model, n_ctx, n_ubatch, True) * 1.25


@dataclass(frozen=True)
class MemoryEstimate:
    placement: Placement
    n_ctx: int
    kv_type: str
    flash_attn: bool
    weights_ram: int
    weights_vram: int
    kv_ram: int
    kv_vram: int
    compute_ram: int
    compute_vram: int
    overhead_ram: int
    overhead_vram: int

    @property
    def ram_bytes(self) -> int:
        return self.weights_ram + self.kv_ram + self.compute_ram + self.overhead_ram

    @property
    def vram_bytes(self) -> int:
        return self.weights_vram + self.kv_vram + self.compute_vram + self.overhead_vram

    def breakdown(self, device: str) -> str:
        if device == "ram":
            parts = (self.weights_ram, self.kv_ram, self.compute_ram, self.overhead_ram)
        else:
            parts = (self.weights_vram, self.kv_vram, self.compute_vram, self.overhead_vram)
        names = ("weights", "KV cache", "compute", "runtime" if device == "ram" else "driver")
        return ", ".join(f"{n} {fmt_bytes(b)}" for n, b in zip(names, parts, strict=True) if b)

    def as_dict(self) -> dict[str, Any]:
        return {
            "placement": self.placement.mode, "gpuLayers": self.placement.gpu_layers,
            "nCpuMoe": self.placement.cpu_moe, "contextSize": self.n_ctx, "kvCacheType": self.kv_type,
            "flashAttention": self.flash_attn, "ramBytes": self.ram_bytes, "vramBytes": self.vram_bytes,
            "kvBytes": self.kv_ram + self.kv_vram, "weightsBytes": self.weights_ram + self.weights_vram,
            "computeBytes": self.compute_ram + self.compute_vram,
        }


def estimate(model: ModelMemory, placement: Placement, n_ctx: int, *, kv_type: str = "f16",
             flash_attn: bool = False, n_ubatch: int = 512, gpu: GpuInfo | None = None,
             sequences: int = 1) -> MemoryEstimate:
    """RAM and VRAM for `placement`. Without a GPU, everything counts as RAM."""
    if gpu is None and placement.uses_gpu:
        # a build or machine without a GPU runs every layer on the CPU
        return replace(estimate(model, Placement.cpu(), n_ctx, kv_type=kv_type, flash_attn=flash_attn,
                                n_ubatch=n_ubatch, sequences=sequences), placement=placement)
    first = placement.first_gpu_layer(model)
    w_ram, w_vram = model.input_bytes, 0
    kv_ram = kv_vram = 0
    per_layer_kv = kv_cache_bytes_per_layer(model, n_ctx, kv_type)
    attention = model.kv_layers
    state_per_layer = (sequences * model.recurrent_state_bytes // max(model.n_layer - attention, 1)
                       if model.recurrent_state_bytes else 0)
    for i in range(model.n_layer):
        on_gpu = placement.uses_gpu and i >= first
        experts_here = model.expert_bytes[i]
        if on_gpu:
            w_vram += model.layer_bytes[i]
            if i < placement.cpu_moe:
                w_ram += experts_here
            else:
                w_vram += experts_here
        else:
            w_ram += model.layer_bytes[i] + experts_here
    # KV per attention layer and recurrent state per recurrent layer, on the layer's device
    # (which layers are recurrent is spread evenly: the share on the GPU is what matters)
    gpu_layers = max(0, model.n_layer - first) if placement.uses_gpu else 0
    gpu_share = gpu_layers / model.n_layer if model.n_layer else 0.0
    kv_total = attention * per_layer_kv
    state_total = state_per_layer * (model.n_layer - attention)
    kv_vram = round((kv_total + state_total) * gpu_share)
    kv_ram = kv_total + state_total - kv_vram
    if placement.output_on_gpu(model):
        w_vram += model.output_bytes + (model.input_bytes if model.tied_output else 0)
    else:
        w_ram += model.output_bytes
    if placement.uses_gpu:
        out_gpu = placement.output_on_gpu(model)
        c_vram = compute_bytes(model, n_ctx, n_ubatch, flash_attn, logits=out_gpu)
        # the host keeps inputs, and computes what stays on the CPU
        c_ram = 2 * n_ubatch * model.n_embd * 4 + 16 * MiB
        if placement.cpu_moe and model.is_moe:
            c_ram += 3 * n_ubatch * model.n_ff_exp * max(model.expert_used_count, 1) * 4
        if placement.gpu_layers <= model.n_layer:  # some layers still run on the CPU
            c_ram = max(c_ram, compute_bytes(model, n_ctx, n_ubatch, flash_attn, logits=False))
    else:
        c_ram, c_vram = compute_bytes(model, n_ctx, n_ubatch, flash_attn), 0
    o_vram = GPU_RESERVE if placement.uses_gpu and not (gpu and gpu.unified) else 0
    return MemoryEstimate(placement, n_ctx, kv_type, flash_attn, w_ram, w_vram, kv_ram, kv_vram,
                          c_ram, c_vram, RUNTIME_RAM, o_vram)


def shortfall(est: MemoryEstimate, machine: Machine) -> tuple[int, int]:
    """(RAM, VRAM) bytes missing for `est` on `machine`; (0, 0) when it fits."""
    gpu = machine.gpu
    ram_need = est.ram_bytes
    vram_missing = 0
    if gpu is not None and est.vram_bytes:
        if gpu.unified:
            ram_need += est.vram_bytes
        if gpu.vram_free is not None:
            vram_missing = max(0, est.vram_bytes - gpu.vram_free)
    return max(0, ram_need - machine.ram_available), vram_missing


def fits(est: MemoryEstimate, machine: Machine) -> bool:
    return shortfall(est, machine) == (0, 0)


# -- planning -------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRequest:
    """The user's settings that bear on memory (engine.* in config.py)."""

    context_size: int = 4096
    kv_type: str = "f16"
    flash_attention: str = "auto"
    placement: str = "auto"
    gpu_layers: int = -1
    n_cpu_moe: int | None = None
    n_ubatch: int = 512
    # sequences the context holds: the KV cache is unified (n_ctx cells in all), but
    # each sequence has its own recurrent state
    sequences: int = 1


@dataclass
class MemoryPlan:
    model: ModelMemory
    machine: Machine
    request: PlanRequest
    estimate: MemoryEstimate
    fits: bool
    problems: list[str] = field(default_factory=list)
    alternatives: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def placement(self) -> Placement:
        return self.estimate.placement

    def summary(self) -> str:
        e = self.estimate
        where = self.placement.describe(self.model)
        if self.machine.gpu is None and self.placement.uses_gpu:
            where = f"all on the CPU (no GPU here; placement {self.placement.mode} requested)"
        text = (f"{where}; context {e.n_ctx}, KV {e.kv_type}, flash "
                f"attention {'on' if e.flash_attn else 'off'}; RAM ~{fmt_bytes(e.ram_bytes)} "
                f"({e.breakdown('ram')})")
        if e.vram_bytes:
            text += f", VRAM ~{fmt_bytes(e.vram_bytes)} ({e.breakdown('vram')})"
        return text

    def refusal(self) -> str:
        """The message shown instead of loading: what does not fit and what would."""
        m = self.model
        if fits(self.estimate, self.machine):  # memory is fine: a setting is the problem
            return f"cannot load {m.name}: " + "; ".join(self.problems)
        head = (f"{m.name} ({fmt_bytes(m.weight_bytes)} of weights, "
                f"{m.bits_per_weight:.1f} bits/weight) will not fit: ")
        text = head + "; ".join(self.problems)
        if self.alternatives:
            text += ". What fits instead: " + "; ".join(self.alternatives)
        return text + ". (engine.memoryCheck false loads it anyway.)"

    def as_dict(self) -> dict[str, Any]:
        out = self.estimate.as_dict()
        out.update(fits=self.fits, problems=list(self.problems), alternatives=list(self.alternatives),
                   notes=list(self.notes), summary=self.summary())
        return out


def _effective_ctx(model: ModelMemory, context_size: int) -> int:
    if model.context_length:
        return min(context_size, model.context_length)
    return context_size


def _estimate_for(model: ModelMemory, machine: Machine, req: PlanRequest, placement: Placement,
                  n_ctx: int | None = None, kv_type: str | None = None) -> MemoryEstimate:
    n_ctx = n_ctx or _effective_ctx(model, req.context_size)
    kv = kv_type or req.kv_type
    effective = placement if machine.gpu is not None else Placement.cpu()
    fa = flash_attention_wanted(model, req.flash_attention, kv, effective, n_ctx, req.n_ubatch)
    return estimate(model, placement, n_ctx, kv_type=kv, flash_attn=fa, n_ubatch=req.n_ubatch,
                    gpu=machine.gpu, sequences=req.sequences)


def gpu_candidates(model: ModelMemory, machine: Machine) -> list[Placement]:
    """Placements that use the GPU, fastest first."""
    if not machine.can_plan_gpu:
        return []
    out = [Placement.full_gpu(model)]
    unified = machine.gpu is not None and machine.gpu.unified
    if model.is_moe and not unified:
        # each layer's experts moved to RAM frees the most VRAM for the least speed
        out += [Placement.experts_on_cpu(model, n) for n in range(1, model.n_layer + 1)]
    out += [Placement.partial(model, g) for g in range(model.n_layer, 0, -1)]
    return out


def _requested_placement(model: ModelMemory, machine: Machine, req: PlanRequest,
                         notes: list[str], problems: list[str]) -> Placement | None:
    if req.placement == "cpu":
        return Placement.cpu()
    if req.placement in ("gpu", "experts-on-cpu") and machine.gpu is None:
        notes.append(f"placement {req.placement}: no GPU is available to llama.cpp here, so every "
                     "layer runs on the CPU (see the README for CUDA and Metal builds)")
    if req.placement == "gpu":
        if req.gpu_layers < 0 or req.gpu_layers > model.n_layer:
            return Placement.full_gpu(model)
        return Placement.partial(model, req.gpu_layers)
    if req.placement == "experts-on-cpu":
        if not model.is_moe:
            problems.append(f"placement experts-on-cpu needs a mixture-of-experts model, and "
                            f"{model.name} ({model.architecture}) has no routed experts; use "
                            "engine.placement auto, cpu or gpu")
            return None
        return Placement.experts_on_cpu(model, req.n_cpu_moe)
    return None


def plan_memory(model: ModelMemory, machine: Machine, req: PlanRequest) -> MemoryPlan:
    """Choose (placement `auto`) or check (an explicit placement) where the model goes."""
    notes: list[str] = []
    problems: list[str] = []
    n_ctx = _effective_ctx(model, req.context_size)
    if n_ctx < req.context_size:
        notes.append(f"context {req.context_size} capped at the model's trained {n_ctx}")
    if req.flash_attention == "off" and req.kv_type in QUANTIZED_KV:
        problems.append(f"engine.kvCacheType {req.kv_type} needs flash attention, and "
                        "engine.flashAttention is off; set it to auto or on")
    if machine.gpu is not None and machine.gpu.vram_free is None and req.placement == "auto":
        notes.append(f"{machine.gpu.name}: free VRAM unknown, planning for the CPU only; set "
                     "engine.vramBytes to plan GPU offload")
    if req.placement == "auto":
        chosen = None
        for p in [*gpu_candidates(model, machine), Placement.cpu()]:
            est = _estimate_for(model, machine, req, p, n_ctx)
            if fits(est, machine):
                chosen = est
                break
        if chosen is None:
            # report the plan that needs the least of the scarcest memory
            chosen = _estimate_for(model, machine, req, Placement.cpu(), n_ctx)
    else:
        placement = _requested_placement(model, machine, req, notes, problems)
        chosen = _estimate_for(model, machine, req, placement or Placement.cpu(), n_ctx)
    ok = not problems and fits(chosen, machine)
    if not ok and not problems:
        problems.append(_shortfall_text(chosen, machine, auto=req.placement == "auto"))
    plan = MemoryPlan(model, machine, req, chosen, ok, problems, [], notes)
    if not fits(chosen, machine):
        plan.alternatives = alternatives(model, machine, req, chosen)
    return plan


def _shortfall_text(est: MemoryEstimate, machine: Machine, *, auto: bool = False) -> str:
    gpu = machine.gpu
    if auto and machine.can_plan_gpu and gpu is not None:
        pool = (f"{fmt_bytes(machine.ram_available)} of RAM shared with the GPU" if gpu.unified else
                f"{fmt_bytes(machine.ram_available)} of RAM and {fmt_bytes(gpu.vram_free or 0)} free "
                f"on {gpu.name}")
        return (f"no placement fits at context {est.n_ctx} with a {est.kv_type} KV cache: it needs "
                f"about {fmt_bytes(est.ram_bytes)} in all ({est.breakdown('ram')}) and this machine "
                f"has {pool}")
    ram_missing, vram_missing = shortfall(est, machine)
    m_desc = {"cpu": "all on the CPU", "gpu": "all layers on the GPU",
              "experts-on-cpu": "experts in RAM, the rest on the GPU",
              "partial": f"{est.placement.gpu_layers} GPU layers"}[est.placement.mode]
    where = f"{m_desc}, context {est.n_ctx}, {est.kv_type} KV cache"
    parts = []
    if ram_missing:
        shared = gpu is not None and gpu.unified and est.vram_bytes
        need = est.ram_bytes + (est.vram_bytes if shared else 0)
        detail = est.breakdown("ram") + (f"; GPU share {fmt_bytes(est.vram_bytes)}" if shared else "")
        parts.append(f"it needs about {fmt_bytes(need)} of RAM ({detail}) but "
                     f"{fmt_bytes(machine.ram_available)} is available")
    if vram_missing and gpu is not None:
        parts.append(f"it needs about {fmt_bytes(est.vram_bytes)} of GPU memory ({est.breakdown('vram')}) "
                     f"but {gpu.name} has {fmt_bytes(gpu.vram_free or 0)} free")
    return f"{where}: " + " and ".join(parts)


def alternatives(model: ModelMemory, machine: Machine, req: PlanRequest,
                 failed: MemoryEstimate) -> list[str]:
    """Settings that would fit, each with what it needs, most useful first."""
    out: list[str] = []
    n_ctx = failed.n_ctx
    auto = req.placement == "auto"
    every = [*gpu_candidates(model, machine), Placement.cpu()]
    places = every if auto else [failed.placement]

    def first_fit(ctx: int, kv: str) -> MemoryEstimate | None:
        for p in places:
            est = _estimate_for(model, machine, req, p, ctx, kv)
            if fits(est, machine):
                return est
        return None

    def need(est: MemoryEstimate) -> str:
        text = f"RAM ~{fmt_bytes(est.ram_bytes)}"
        if est.vram_bytes:
            text += f", VRAM ~{fmt_bytes(est.vram_bytes)}"
        if auto and est.placement.mode != "cpu":
            text = f"{est.placement.describe(model)}; {text}"
        return text

    if not auto:  # another placement at the same context
        for p in every:
            est = _estimate_for(model, machine, req, p, n_ctx)
            if p != failed.placement and fits(est, machine):
                out.append(f"{p.settings_hint(model)} ({p.describe(model)}; {need(est)})")
                break
    ctx = n_ctx // 2
    while ctx >= 512:
        smaller = first_fit(ctx, req.kv_type)
        if smaller is not None:
            out.append(f"engine.contextSize {ctx} ({need(smaller)})")
            break
        ctx //= 2
    if req.kv_type not in QUANTIZED_KV and req.flash_attention != "off":
        for kv in QUANTIZED_KV:
            quantized = first_fit(n_ctx, kv)
            if quantized is not None:
                out.append(f"engine.kvCacheType {kv} ({need(quantized)})")
                break
    pool = failed.placement if not auto else (
        Placement.full_gpu(model) if machine.can_plan_gpu else Placement.cpu())
    quant = smaller_quant(model, machine, req, pool, n_ctx)
    if quant:
        out.append(f"a smaller quant of this model: {quant}")
    if n_ctx > 8192:
        shorter = smaller_quant(model, machine, req, pool, 8192)
        if shorter and shorter.split()[0] != (quant.split()[0] if quant else ""):
            out.append(f"a smaller quant with engine.contextSize 8192: {shorter}")
            quant = quant or shorter
    if not quant and not out:
        out.append("a smaller model (e.g. `default`, Qwen2.5-Coder 0.5B): this one does not fit "
                   "here even at 2 bits per weight")
    if machine.gpu is None and model.weight_bytes > machine.ram_available:
        out.append("a GPU with enough memory and a GPU build of llama-cpp-python (README: CUDA, Metal)")
    return out


def smaller_quant(model: ModelMemory, machine: Machine, req: PlanRequest, placement: Placement,
                  n_ctx: int) -> str:
    """The largest common quantization of this model that would fit ("Q3_K_M or below ..."), or ''.

    With the GPU in play, RAM and VRAM are one pool for weights (experts or
    layers move to whichever has room); otherwise the weights must fit in RAM.
    """
    if not model.total_params:
        return ""
    base = _estimate_for(model, machine, req, placement, n_ctx)
    gpu = machine.gpu
    budget = machine.ram_available - (base.ram_bytes - base.weights_ram)
    if placement.uses_gpu and gpu is not None:
        non_weight_vram = base.vram_bytes - base.weights_vram
        if gpu.unified:
            budget -= non_weight_vram
        elif gpu.vram_free is not None:
            budget += gpu.vram_free - non_weight_vram
    if budget <= 0:
        return ""
    bits = budget * 8 / model.total_params
    for name, bpw in QUANT_BITS:
        if bpw <= bits and bpw < model.bits_per_weight - 0.2:
            size = int(model.total_params * bpw / 8)
            return f"{name} or below (~{fmt_bytes(size)} of weights)"
    return ""
