"""The machine side of placement: what memory there is, and telling llama.cpp where tensors go.

- `probe_machine()` reads available RAM (/proc/meminfo, a cgroup limit, or
  sysconf) and asks llama.cpp's ggml backend registry for GPUs and their free
  memory (`ggml_backend_dev_memory`), unless `engine.vramBytes` says.
- `expert_override_patterns()` builds the tensor buffer-type overrides that
  keep routed experts in RAM: llama.cpp's `--cpu-moe` / `--n-cpu-moe N`.
- `load_hooks()` wraps the construction of a `llama_cpp.Llama`: it installs
  those overrides into `llama_model_params.tensor_buft_overrides` (a field
  llama-cpp-python's high-level class leaves NULL) and captures llama.cpp's
  load log, from which `LoadReport` reads the buffers llama.cpp really
  allocated and which tensors were overridden.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import EngineError
from .memory_plan import GpuInfo, Machine

# ggml_backend_dev_type
_DEV_CPU, _DEV_GPU, _DEV_IGPU = 0, 1, 2

# Routed-expert tensors, as llama.cpp's --cpu-moe matches them (plus the fused gate_up form).
EXPERT_OVERRIDE_SUFFIX = r"\.ffn_(up|down|gate|gate_up)_(ch|)exps"


# -- RAM ------------------------------------------------------------------------


def _meminfo(path: str = "/proc/meminfo") -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(path) as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    out[key] = int(parts[0]) * (1024 if len(parts) > 1 and parts[1] == "kB" else 1)
    except OSError:
        pass
    return out


def _cgroup_room(root: str = "/sys/fs/cgroup") -> int | None:
    """Bytes this process's cgroup (v2) may still allocate, if it is limited."""
    try:
        limit = Path(root, "memory.max").read_text().strip()
        if limit == "max":
            return None
        current = int(Path(root, "memory.current").read_text().strip())
        return max(0, int(limit) - current)
    except (OSError, ValueError):
        return None


def probe_ram() -> tuple[int, int]:
    """(available, total) bytes of RAM."""
    info = _meminfo()
    total = info.get("MemTotal", 0)
    available = info.get("MemAvailable", 0)
    if not total:
        with contextlib.suppress(ValueError, OSError, AttributeError):
            total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if not available:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            # macOS reports no "available": assume what a busy desktop leaves free
            available = int(total * 0.75)
    room = _cgroup_room()
    if room is not None:
        available = min(available, room)
    return available, total


# -- GPUs through ggml's backend registry -----------------------------------------


class _Ggml:
    """The few ggml backend functions llama-cpp-python does not bind."""

    def __init__(self, llama_cpp: Any) -> None:
        # dlsym on libllama's handle also searches the ggml libraries it links
        # (Linux, macOS); Windows looks only in the named DLL, so add those.
        self.libs: list[Any] = [llama_cpp.llama_cpp._lib]
        lib_dir = Path(llama_cpp.__file__).parent / "lib"
        for name in ("ggml.dll", "ggml-base.dll"):
            if (lib_dir / name).exists():
                with contextlib.suppress(OSError):
                    self.libs.append(ctypes.CDLL(str(lib_dir / name)))
        v, sz = ctypes.c_void_p, ctypes.c_size_t
        self.dev_count = self._fn("ggml_backend_dev_count", [], sz)
        self.dev_get = self._fn("ggml_backend_dev_get", [sz], v)
        self.dev_name = self._fn("ggml_backend_dev_name", [v], ctypes.c_char_p)
        self.dev_description = self._fn("ggml_backend_dev_description", [v], ctypes.c_char_p)
        self.dev_type = self._fn("ggml_backend_dev_type", [v], ctypes.c_int)
        self.dev_memory = self._fn("ggml_backend_dev_memory", [v, ctypes.POINTER(sz), ctypes.POINTER(sz)], None)
        self.dev_by_type = self._fn("ggml_backend_dev_by_type", [ctypes.c_int], v)
        self.dev_buffer_type = self._fn("ggml_backend_dev_buffer_type", [v], v)
        self.buft_name = self._fn("ggml_backend_buft_name", [v], ctypes.c_char_p)

    def _fn(self, name: str, argtypes: list[Any], restype: Any) -> Any:
        for lib in self.libs:
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.argtypes = argtypes
                fn.restype = restype
                return fn
        raise EngineError(f"this llama.cpp build does not export {name}; upgrade llama-cpp-python")

    def cpu_buffer_type(self) -> int:
        dev = self.dev_by_type(_DEV_CPU)
        if not dev:
            raise EngineError("llama.cpp has no CPU device registered")
        return int(self.dev_buffer_type(dev))


_ggml: _Ggml | None = None
_ggml_lock = threading.Lock()


def ggml(llama_cpp: Any) -> _Ggml:
    global _ggml
    with _ggml_lock:
        if _ggml is None:
            _ggml = _Ggml(llama_cpp)
        return _ggml


@dataclass(frozen=True)
class Device:
    name: str
    description: str
    kind: str  # "cpu" | "gpu" | "igpu" | "accel"
    free: int
    total: int


def list_devices(llama_cpp: Any) -> list[Device]:
    """Every device llama.cpp can compute on, with the memory it reports."""
    g = ggml(llama_cpp)
    out = []
    for i in range(int(g.dev_count())):
        dev = g.dev_get(i)
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        g.dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        kind = {_DEV_CPU: "cpu", _DEV_GPU: "gpu", _DEV_IGPU: "igpu"}.get(int(g.dev_type(dev)), "accel")
        out.append(Device((g.dev_name(dev) or b"").decode(), (g.dev_description(dev) or b"").decode(),
                          kind, int(free.value), int(total.value)))
    return out


def probe_gpu(llama_cpp: Any | None, vram_override: int = 0) -> GpuInfo | None:
    """The first GPU llama.cpp would offload to, or None on a CPU-only build."""
    if llama_cpp is None or not bool(llama_cpp.llama_supports_gpu_offload()):
        if vram_override:
            return GpuInfo("GPU (engine.vramBytes)", vram_override, vram_override)
        return None
    gpus = [d for d in list_devices(llama_cpp) if d.kind in ("gpu", "igpu")]
    if not gpus:
        return None
    d = gpus[0]
    unified = d.kind == "igpu" or (sys.platform == "darwin" and platform.machine() == "arm64")
    free = vram_override or d.free or None
    return GpuInfo(f"{d.name} ({d.description})" if d.description else d.name, free,
                   d.total or vram_override or None, unified=unified)


def probe_machine(vram_override: int = 0, llama_cpp: Any | None = None) -> Machine:
    """RAM and GPU of this machine, as the planner sees them."""
    available, total = probe_ram()
    gpu = probe_gpu(llama_cpp, vram_override)
    desc = f"{available / (1 << 30):.1f} of {total / (1 << 30):.1f} GiB RAM available"
    if gpu is not None:
        vram = f"{gpu.vram_free / (1 << 30):.1f} GiB free" if gpu.vram_free else "free memory unknown"
        desc += f"; GPU {gpu.name}, {vram}" + (" (unified memory)" if gpu.unified else "")
    else:
        desc += "; no GPU offload"
    return Machine(available, total, gpu, desc)


# -- tensor buffer-type overrides --------------------------------------------------


def expert_override_patterns(n_cpu_moe: int, n_layer: int) -> tuple[str, ...]:
    """Regexes that keep the routed experts of the first `n_cpu_moe` layers in RAM.

    All layers is llama.cpp's `--cpu-moe`; fewer is `--n-cpu-moe N`, written as
    one alternation rather than N entries.
    """
    if n_cpu_moe <= 0:
        return ()
    if n_cpu_moe >= n_layer:
        return (EXPERT_OVERRIDE_SUFFIX,)
    layers = "|".join(str(i) for i in range(n_cpu_moe))
    return (rf"blk\.({layers}){EXPERT_OVERRIDE_SUFFIX}",)


class _BuftOverride(ctypes.Structure):
    # struct llama_model_tensor_buft_override { const char * pattern; ggml_backend_buffer_type_t buft; }
    _fields_ = [("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p)]


def build_overrides(llama_cpp: Any, cpu_patterns: tuple[str, ...]) -> ctypes.Array[Any]:
    """A NULL-terminated override array sending every match to the CPU buffer type."""
    for p in cpu_patterns:
        try:
            re.compile(p)
        except re.error as exc:
            raise EngineError(f"bad tensor override pattern {p!r}: {exc}") from None
    limit = int(llama_cpp.llama_max_tensor_buft_overrides())
    if len(cpu_patterns) >= limit:
        raise EngineError(f"{len(cpu_patterns)} tensor overrides; llama.cpp takes at most {limit - 1}")
    buft = ggml(llama_cpp).cpu_buffer_type()
    arr = (_BuftOverride * (len(cpu_patterns) + 1))()
    for i, p in enumerate(cpu_patterns):
        arr[i].pattern = p.encode()
        arr[i].buft = buft
    return arr


# -- the load log -----------------------------------------------------------------

# "CPU_Mapped model", "CUDA0 KV", "CPU RS" (recurrent state), "Metal compute"...
_BUFFER_RE = re.compile(r"(\S+)\s+(model|KV|RS|compute|output) buffer size\s*=\s*([\d.]+) MiB")
_OVERRIDE_RE = re.compile(r"tensor (\S+) \(.*\) buffer type overridden to (\S+)")


@dataclass
class LoadReport:
    """What llama.cpp says it did while loading: buffers per device, overridden tensors."""

    lines: list[str] = field(default_factory=list)
    # (buffer name, kind) -> bytes, e.g. ("CPU_Mapped", "model"), ("CUDA0", "KV")
    buffers: dict[tuple[str, str], int] = field(default_factory=dict)
    overridden: dict[str, str] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    # the override array llama.cpp was given: it must live as long as the model
    keep_alive: Any = None
    # lines llama.cpp logged as errors (why a load failed)
    errors: list[str] = field(default_factory=list)
    # whether llama.cpp's extra CPU buffer types (repacking, AMX) were on for this load
    extra_buffers: bool = True

    def parse(self) -> None:
        for line in "".join(self.lines).splitlines():
            m = _BUFFER_RE.search(line)
            if m:
                key = (m.group(1), m.group(2))
                self.buffers[key] = self.buffers.get(key, 0) + int(float(m.group(3)) * (1 << 20))
                continue
            m = _OVERRIDE_RE.search(line)
            if m:
                self.overridden[m.group(1)] = m.group(2)

    def failure(self) -> str:
        """llama.cpp's own words for a failed load, to append to our message."""
        text = " ".join(e.strip() for e in self.errors[-3:] if e.strip())
        return f" (llama.cpp: {text})" if text else ""

    def total(self, kind: str) -> int:
        return sum(b for (_, k), b in self.buffers.items() if k == kind)

    def summary(self) -> dict[str, int]:
        return {f"{name} {kind}": b for (name, kind), b in sorted(self.buffers.items())}


_load_lock = threading.Lock()


@contextlib.contextmanager
def load_hooks(llama_cpp: Any, cpu_patterns: tuple[str, ...] = (), *, verbose: bool = False,
               report: LoadReport | None = None, extra_buffers: bool = True) -> Iterator[LoadReport]:
    """Around `llama_cpp.Llama(...)`: apply tensor overrides and capture the load log.

    llama-cpp-python builds `llama_model_params` from `llama_model_default_params()`
    inside `Llama.__init__` and never sets `tensor_buft_overrides`; for the length
    of the load we hand it params with our override array in that field. The
    array (and its pattern strings) must outlive the model: keep the report.
    `extra_buffers` is `use_extra_bufts` (see qwill.engine.llama.use_extra_buffers).
    """
    report = report if report is not None else LoadReport()
    report.overrides = cpu_patterns
    lowlevel = llama_cpp.llama_cpp
    arr = build_overrides(llama_cpp, cpu_patterns) if cpu_patterns else None

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def on_log(level: int, text: bytes, user_data: Any) -> None:
        piece = text.decode("utf-8", "replace")
        report.lines.append(piece)
        if level == 3:  # GGML_LOG_LEVEL_ERROR
            report.errors.append(piece)
        if verbose:
            sys.stderr.write(piece)

    original = lowlevel.llama_model_default_params

    def with_overrides() -> Any:
        params = original()
        if arr is not None:
            params.tensor_buft_overrides = ctypes.cast(arr, ctypes.c_void_p)
        if hasattr(params, "use_extra_bufts"):
            params.use_extra_bufts = extra_buffers
        report.extra_buffers = bool(getattr(params, "use_extra_bufts", True))
        return params

    with _load_lock:
        llama_cpp.llama_log_set(on_log, ctypes.c_void_p(0))
        lowlevel.llama_model_default_params = with_overrides
        try:
            yield report
        finally:
            lowlevel.llama_model_default_params = original
            restore = getattr(getattr(llama_cpp, "_logger", None), "llama_log_callback", None)
            if restore is not None:
                llama_cpp.llama_log_set(restore, ctypes.c_void_p(0))
            report.parse()
            report.keep_alive = arr
