"""`qwill doctor`: what is installed, what the model is, whether it loads."""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from . import __version__
from .config import EngineSettings, Settings
from .engine.gguf_reader import GGUFHeader
from .engine.memory_plan import MemoryPlan, fmt_bytes, fmt_params


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [c.__dict__ for c in self.checks],
            "facts": self.facts,
        }

    def render(self) -> str:
        lines = [f"Qwill {__version__}"]
        for c in self.checks:
            mark = "ok " if c.ok else "ERR"
            lines.append(f"  [{mark}] {c.name}: {c.detail}")
        return "\n".join(lines)


def _llama_facts(report: DoctorReport, engine: EngineSettings | None = None) -> Any:
    try:
        import llama_cpp
    except Exception as exc:
        report.add("llama.cpp", False, f"llama-cpp-python cannot be imported: {exc}")
        return None
    system = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
    gpu = bool(llama_cpp.llama_supports_gpu_offload())
    report.facts["llama_cpp_python"] = llama_cpp.__version__
    report.facts["llama_system_info"] = system
    report.facts["gpu_offload"] = gpu
    report.add("llama.cpp", True, f"llama-cpp-python {llama_cpp.__version__}; {system}")
    report.add("GPU offload", True, "supported by this build" if gpu else
               "not in this build (CPU only; see the README for Metal/CUDA builds)")
    from .engine.llama import build_has_amx, use_extra_buffers

    choice = {"auto": None, "on": True, "off": False}[engine.cpu_extra_buffers if engine else "auto"]
    extra = use_extra_buffers(llama_cpp, choice)
    report.facts["cpu_extra_buffers"] = extra
    why = ("this build has llama.cpp's AMX kernels, which crash on some AMX CPUs; rebuild "
           "llama-cpp-python without them to get weight repacking back (README, Install)"
           if build_has_amx(llama_cpp) and not extra else "engine.cpuExtraBuffers")
    report.add("CPU extra buffers", True, f"{'on' if extra else 'off'} ({why})")
    return llama_cpp


def _remote_checks(report: DoctorReport, engine: EngineSettings, label: str, key: str,
                   *, fim_override: str = "auto") -> None:
    """Endpoint, reachability, the model the server reports, the FIM format."""
    from .engine.base import EngineError
    from .engine.loader import remote_options
    from .engine.remote import Endpoint, probe_endpoint

    try:
        options = remote_options(engine, fim_override=fim_override)
        shown = Endpoint.parse(options.url).display
    except EngineError as exc:
        report.add(label, False, str(exc))
        return
    tls = "not used"
    if shown.startswith("https://"):
        tls = (f"verified (system store + {engine.ca_bundle})" if engine.ca_bundle
               else "verified (system store)")
    auth = "bearer token" if options.api_key else "none"
    report.add(f"{label} endpoint", True, f"{engine.backend} at {shown} (auth: {auth}; TLS {tls})")
    try:
        facts = probe_endpoint(options)
    except EngineError as exc:
        report.add(f"{label} reachable", False, str(exc))
        return
    report.facts[key] = facts
    report.add(f"{label} reachable", True, f"answered in {facts['seconds']:.2f}s; serves "
               f"{', '.join(facts['served_models'][:5]) or 'no model list'}")
    report.add(f"{label} model", True, facts["model"] + (
        f" (context {facts['context_length']})" if facts.get("context_length") else ""))
    if key == "engine":
        report.add("FIM format", bool(facts["fim_template"]), facts["fim_template"] or (
            "not recognised from the model name; set completion.fimTemplate "
            "(e.g. `qwen` for Qwen2.5/Qwen3-Coder)"))


def run_doctor(settings: Settings, *, load: bool = True) -> DoctorReport:
    from .engine.llama import default_threads
    from .engine.resolve import ModelError, inspect_model, resolve_model

    report = DoctorReport()
    report.add("Python", sys.version_info >= (3, 11),
               f"{platform.python_version()} on {platform.platform()}")
    _usage_check(report)
    if settings.agent_engine.backend not in ("same", "local"):
        _remote_checks(report, settings.agent_engine, "agent engine", "agentEngine")
    if settings.engine.backend != "local":
        # No model file: the server is the model. Report where it is and what it serves.
        _remote_checks(report, settings.engine, "engine", "engine",
                       fim_override=settings.completion.fim_template)
        return report
    _llama_facts(report, settings.engine)
    threads = settings.engine.n_threads or default_threads()
    report.facts["threads"] = threads
    report.add("threads", True, f"{threads} (engine.nThreads={settings.engine.n_threads or 'auto'})")
    try:
        path = resolve_model(settings.engine.model, cache_dir=settings.engine.model_cache_dir,
                             offline=settings.engine.offline)
        header = inspect_model(path)
    except ModelError as exc:
        report.add("model", False, str(exc))
        return report
    facts = {
        "path": str(path),
        "size_bytes": header.file_size,
        "architecture": header.architecture,
        "name": header.name,
        "context_length": header.context_length,
        "parameters": header.parameter_count,
        "expert_count": header.expert_count,
        "expert_used_count": header.expert_used_count,
        "active_parameters": header.active_parameter_count,
        "expert_bytes": header.expert_tensor_bytes,
        "tensor_bytes": header.tensor_bytes,
        "layers": header.block_count,
    }
    report.facts["model"] = facts
    moe = (f"; mixture of experts: {header.expert_count} experts, {header.expert_used_count} used "
           f"per token, {fmt_params(header.active_parameter_count)} active parameters, experts "
           f"{fmt_bytes(header.expert_tensor_bytes)} of {fmt_bytes(header.tensor_bytes)}"
           if header.is_moe else "")
    report.add("model", True,
               f"{header.name} at {path} ({header.file_size / 1e6:.0f} MB, {header.architecture}, "
               f"{fmt_params(header.parameter_count)} parameters, {header.block_count} layers, "
               f"trained context {header.context_length}{moe})")
    plan = _memory_checks(report, settings, header)
    from .engine.fim import UnsupportedModel, detect_template

    try:
        tpl = detect_template(header.tokens, architecture=header.architecture, name=header.name)
        report.add("FIM format", True, tpl.name)
    except UnsupportedModel as exc:
        report.add("FIM format", False, str(exc))
    if load and plan is not None and not plan.fits and settings.engine.memory_check:
        report.add("load", False, "not attempted: the model does not fit (see placement)")
    elif load:
        from .engine.base import EngineError
        from .engine.loader import load_engine

        t0 = time.perf_counter()
        try:
            engine = load_engine(settings.engine)
        except EngineError as exc:
            report.add("load", False, str(exc))
            return report
        loaded = engine.info.memory.get("loaded", {})
        report.facts["loaded"] = loaded
        buffers = ", ".join(f"{name} {fmt_bytes(b)}" for name, b in loaded.get("buffers", {}).items())
        in_ram = (f"; {loaded['tensorsInRam']} expert tensors kept in RAM by override"
                  if loaded.get("tensorsInRam") else "")
        report.add("load", True, f"loaded in {time.perf_counter() - t0:.2f}s "
                   f"(context {engine.info.extra.get('n_ctx')}; llama.cpp allocated {buffers}{in_ram})")
        engine.close()
    return report


def _usage_check(report: DoctorReport) -> None:
    """The shown/accepted totals kept on this machine (local_state.py)."""
    from .local_state import default_path, read_totals

    path = default_path()
    totals = read_totals(path)
    report.facts["usage"] = {**totals.as_dict(), "path": str(path)}
    report.add("usage", True, f"{totals.summary()} (kept in {path}, never sent anywhere)")


def _memory_checks(report: DoctorReport, settings: Settings, header: GGUFHeader) -> MemoryPlan | None:
    """The machine's memory, and where the model would go (or why it would not fit)."""
    from .engine.base import EngineError
    from .engine.loader import plan_model

    try:
        plan = plan_model(settings.engine, header)
    except EngineError as exc:
        report.add("placement", False, str(exc))
        return None
    report.facts["machine"] = {
        "ram_available": plan.machine.ram_available, "ram_total": plan.machine.ram_total,
        "gpu": plan.machine.gpu.name if plan.machine.gpu else None,
        "vram_free": plan.machine.gpu.vram_free if plan.machine.gpu else None,
        "unified_memory": bool(plan.machine.gpu and plan.machine.gpu.unified),
    }
    report.facts["plan"] = plan.as_dict()
    report.add("memory", True, plan.machine.description)
    detail = plan.summary() if plan.fits else plan.refusal()
    if not plan.fits and not settings.engine.memory_check:
        detail += " (engine.memoryCheck is off: loading anyway)"
    report.add("placement", plan.fits or not settings.engine.memory_check,
               f"engine.placement {settings.engine.placement}: {detail}")
    for note in plan.notes:
        report.add("note", True, note)
    return plan
