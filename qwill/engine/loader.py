"""From settings to a loaded engine: resolve, inspect, pick the FIM format, load."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ..config import EngineSettings
from .base import Engine, EngineError
from .fake import FakeEngine
from .fim import UnsupportedModel, detect_template
from .gguf_reader import GGUFHeader
from .llama import CONTEXT_SEQUENCES, LlamaEngine, LlamaOptions, import_llama_cpp
from .memory_plan import Machine, MemoryPlan, ModelMemory, PlanRequest, plan_memory
from .placement import expert_override_patterns, probe_machine
from .remote import Endpoint, HttpOptions, RemoteEngine, RemoteOptions, resolve_api_key
from .resolve import ProgressFn, inspect_model, resolve_model

FAKE_PREFIX = "fake:"

log = logging.getLogger(__name__)

# LlamaEngine's context holds a sequence per cached prompt and a scratch one for KV moves
# (llama.py); they share the unified KV cache, but each has its own recurrent state
ENGINE_SEQUENCES = CONTEXT_SEQUENCES


def fake_engine_from_spec(spec: str, fim_override: str = "auto") -> FakeEngine:
    """`fake:` engines for tests and demos without a model.

    `fake:` answers with nothing; `fake:/path/script.json` replays a JSON list of
    responses (or an object with `responses`, `default`, `delay`). They render FIM
    prompts in Qwen's format unless `fim_override` names another.
    """
    fim = fim_override if fim_override != "auto" else "qwen"
    source = spec[len(FAKE_PREFIX):]
    if not source:
        return FakeEngine(fim_template=fim)
    try:
        data = json.loads(Path(source).read_text())
    except (OSError, ValueError) as exc:
        raise EngineError(f"cannot read fake engine script {source}: {exc}") from None
    if isinstance(data, list):
        return FakeEngine([str(x) for x in data], fim_template=fim)
    return FakeEngine([str(x) for x in data.get("responses", [])],
                      default=str(data.get("default", "")),
                      delay=float(data.get("delay", 0.0)), fim_template=fim)


def remote_options(settings: EngineSettings, *, fim_override: str = "auto") -> RemoteOptions:
    """The RemoteEngine's options from engine settings (the bearer token resolved here)."""
    if not settings.url:
        raise EngineError(f"engine.backend is '{settings.backend}' but engine.url is not set; "
                          "set it to the server's address, e.g. http://127.0.0.1:8080")
    api_key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    return RemoteOptions(
        backend=settings.backend,
        url=settings.url,
        model=settings.model,
        api_key=resolve_api_key(api_key, settings.api_key_env),
        http=HttpOptions(connect_timeout=settings.connect_timeout,
                         read_timeout=settings.read_timeout, retries=settings.retries,
                         retry_backoff=settings.retry_backoff, ca_bundle=settings.ca_bundle),
        slot_id=settings.slot_id,
        infill=settings.infill,
        fim_template=fim_override,
    )


def load_engine(settings: EngineSettings, *, fim_override: str = "auto",
                progress: ProgressFn | None = None, verbose: bool = False) -> Engine:
    """Resolve `settings.model` and load it; EngineError explains any failure.

    A remote backend needs no model file: it is probed (reachable, serves the
    model) and nothing is resolved or assembled locally.
    """
    if settings.model.startswith(FAKE_PREFIX):
        return fake_engine_from_spec(settings.model, fim_override)
    if settings.backend not in ("local", "same"):
        options = remote_options(settings, fim_override=fim_override)
        if progress:
            progress(f"connecting to {Endpoint.parse(options.url).display}", None)
        return RemoteEngine(options)
    if progress:
        progress(f"locating model {settings.model}", None)
    path = resolve_model(settings.model, cache_dir=settings.model_cache_dir,
                         offline=settings.offline, progress=progress)
    header = inspect_model(path)
    if fim_override != "auto":
        fim_name = fim_override
    else:
        try:
            fim_name = detect_template(header.tokens, architecture=header.architecture,
                                       name=header.name).name
        except UnsupportedModel:
            fim_name = ""  # chat-only model: usable by the agent, not for completion
    plan = plan_model(settings, header)
    if not plan.fits:
        if settings.memory_check:
            raise EngineError(plan.refusal())
        log.warning("loading despite the memory check (engine.memoryCheck is false): %s",
                    "; ".join(plan.problems))
    if progress:
        progress(f"loading {path.name} into llama.cpp ({plan.placement.describe(plan.model)})", None)
    engine = LlamaEngine(path, header, llama_options(settings, plan), fim_template=fim_name,
                         verbose=verbose or bool(os.environ.get("QWILL_LLAMA_VERBOSE")))
    describe_load(engine, plan)
    return engine


def plan_request(settings: EngineSettings) -> PlanRequest:
    """The memory-relevant engine settings."""
    return PlanRequest(
        context_size=settings.context_size,
        kv_type=settings.kv_cache_type,
        flash_attention=settings.flash_attention,
        placement=settings.placement,
        gpu_layers=settings.gpu_layers,
        n_cpu_moe=settings.n_cpu_moe,
        n_ubatch=min(settings.batch_size, 512),
        sequences=ENGINE_SEQUENCES,
    )


def plan_model(settings: EngineSettings, header: GGUFHeader, machine: Machine | None = None) -> MemoryPlan:
    """Where `header`'s model goes on this machine (or `machine`), and whether it fits."""
    if machine is None:
        machine = probe_machine(settings.vram_bytes, import_llama_cpp())
    return plan_memory(ModelMemory.from_header(header), machine, plan_request(settings))


def llama_options(settings: EngineSettings, plan: MemoryPlan) -> LlamaOptions:
    """llama.cpp load options that carry out `plan`."""
    p, e = plan.placement, plan.estimate
    patterns = expert_override_patterns(p.cpu_moe, plan.model.n_layer) if p.mode == "experts-on-cpu" else ()
    kv = None if e.kv_type == "f16" else e.kv_type
    return LlamaOptions(
        n_threads=settings.n_threads,
        context_size=settings.context_size,
        batch_size=settings.batch_size,
        gpu_layers=p.llama_gpu_layers,
        flash_attn=e.flash_attn,
        type_k=kv,
        type_v=kv,
        cpu_tensor_patterns=patterns,
        extra_buffers={"auto": None, "on": True, "off": False}[settings.cpu_extra_buffers],
    )


def describe_load(engine: LlamaEngine, plan: MemoryPlan) -> None:
    """Put the plan and what llama.cpp really allocated into the model info clients see."""
    info = engine.info
    info.active_parameters = engine.header.active_parameter_count
    info.placement = plan.placement.mode
    memory = plan.as_dict()
    report = engine.load_report
    # KV cache plus the recurrent state of DeltaNet/Mamba layers, as in the plan
    memory["loaded"] = {"modelBytes": report.total("model"), "kvBytes": report.total("KV") + report.total("RS"),
                        "computeBytes": report.total("compute"), "buffers": report.summary()}
    if report.overridden:
        memory["loaded"]["tensorsInRam"] = len(report.overridden)
    info.memory = memory
