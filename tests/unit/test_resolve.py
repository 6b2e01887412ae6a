"""Model resolution: chunk-wheel assembly, paths, and hf: references from an offline cache."""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qwill.engine import resolve
from qwill.engine.resolve import ChunkedModel, ModelError, resolve_model

_counter = itertools.count()


@pytest.fixture
def part_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[list[bytes]], tuple[str, ...]]]:
    """Make importable packages that each ship one part (like the chunk wheels)."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    made: list[str] = []

    def make(parts: list[bytes]) -> tuple[str, ...]:
        names = []
        for data in parts:
            name = f"qwill_test_part_{os.getpid()}_{next(_counter)}"
            pkg = site / name
            pkg.mkdir()
            (pkg / "part.bin").write_bytes(data)
            (pkg / "__init__.py").write_text(
                "from pathlib import Path\n\n"
                "def get_part_path():\n"
                "    return str(Path(__file__).with_name('part.bin'))\n"
            )
            names.append(name)
        made.extend(names)
        return tuple(names)

    yield make
    for name in made:
        sys.modules.pop(name, None)


PARTS = [b"GGUF" + bytes(range(256)) * 3, b"middle part" * 50, b"tail"]
WHOLE = b"".join(PARTS)


def chunked(parts: tuple[str, ...], *, data: bytes = WHOLE, size: int | None = None,
            sha256: str | None = None) -> ChunkedModel:
    return ChunkedModel(
        name="tiny", filename="tiny-q4_k_m.gguf",
        size=len(data) if size is None else size,
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        parts=parts, extra="tiny-model", description="A tiny test model",
    )


def use(monkeypatch: pytest.MonkeyPatch, model: ChunkedModel) -> None:
    monkeypatch.setattr(resolve, "BUILTIN_MODELS", {"tiny": model})


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_parts_are_assembled_once_and_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, part_packages) -> None:
    use(monkeypatch, chunked(part_packages(PARTS)))
    cache = tmp_path / "cache"
    seen: list[float | None] = []
    path = resolve_model("tiny", cache_dir=str(cache), progress=lambda _msg, f: seen.append(f))
    assert path == cache / "tiny-q4_k_m.gguf"
    assert path.read_bytes() == WHOLE
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    assert leftovers(cache) == ["tiny-q4_k_m.gguf", "tiny-q4_k_m.gguf.verified"]
    mtime = path.stat().st_mtime_ns
    seen.clear()
    # the second call neither rewrites nor re-reads: it works with the parts uninstalled
    use(monkeypatch, chunked(("qwill_test_no_such_part",)))
    assert resolve_model("tiny", cache_dir=str(cache), progress=lambda _m, f: seen.append(f)) == path
    assert path.stat().st_mtime_ns == mtime
    assert seen == []


def test_a_file_changed_after_assembly_is_assembled_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           part_packages) -> None:
    use(monkeypatch, chunked(part_packages(PARTS)))
    path = resolve_model("tiny", cache_dir=str(tmp_path))
    path.write_bytes(b"X" * len(WHOLE))  # same size, other bytes, newer mtime
    assert resolve_model("tiny", cache_dir=str(tmp_path)).read_bytes() == WHOLE


def test_the_cache_dir_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  part_packages) -> None:
    use(monkeypatch, chunked(part_packages(PARTS)))
    monkeypatch.setenv("QWILL_MODEL_DIR", str(tmp_path / "env-cache"))
    assert resolve_model("tiny") == tmp_path / "env-cache" / "tiny-q4_k_m.gguf"


def test_a_checksum_mismatch_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, part_packages) -> None:
    use(monkeypatch, chunked(part_packages(PARTS), sha256="0" * 64))
    with pytest.raises(ModelError, match="failed its checksum") as info:
        resolve_model("tiny", cache_dir=str(tmp_path / "c"))
    assert "pip install --force-reinstall 'qwill[tiny-model]'" in str(info.value)
    assert leftovers(tmp_path / "c") == []


def test_an_io_error_while_writing_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 part_packages) -> None:
    use(monkeypatch, chunked(part_packages(PARTS)))

    def disk_full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(resolve.os, "fsync", disk_full)
    cache = tmp_path / "c"
    with pytest.raises(ModelError, match=r"cannot write .*tiny-q4_k_m.gguf: No space left on device"):
        resolve_model("tiny", cache_dir=str(cache))
    assert leftovers(cache) == []


def test_a_missing_part_package_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               part_packages) -> None:
    names = part_packages(PARTS[:2])
    use(monkeypatch, chunked((*names, "qwill_test_part_not_installed")))
    with pytest.raises(ModelError) as info:
        resolve_model("tiny", cache_dir=str(tmp_path))
    msg = str(info.value)
    assert "the 'tiny' model (A tiny test model) is not installed" in msg
    assert "pip install 'qwill[tiny-model]'" in msg


def test_a_part_whose_file_is_gone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, part_packages) -> None:
    names = part_packages(PARTS)
    (tmp_path / "site" / names[1] / "part.bin").unlink()
    use(monkeypatch, chunked(names))
    with pytest.raises(ModelError, match=r"is damaged: part .*part.bin is missing"):
        resolve_model("tiny", cache_dir=str(tmp_path / "c"))


def test_parts_of_the_wrong_total_size(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, part_packages) -> None:
    use(monkeypatch, chunked(part_packages(PARTS), size=len(WHOLE) + 1))
    with pytest.raises(ModelError) as info:
        resolve_model("tiny", cache_dir=str(tmp_path / "c"))
    assert f"parts add up to {len(WHOLE):,} bytes, expected {len(WHOLE) + 1:,}" in str(info.value)
    assert leftovers(tmp_path / "c") == []


# -- paths ----------------------------------------------------------------------------

def test_a_path_to_a_file_is_used_as_is(tmp_path: Path) -> None:
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    assert resolve_model(str(f)) == f
    assert resolve_model(f"  {f}  ") == f


def test_a_directory_with_one_gguf(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("x")
    (tmp_path / "only.gguf").write_bytes(b"GGUF")
    assert resolve_model(str(tmp_path)) == tmp_path / "only.gguf"
    (tmp_path / "second.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelError, match=re.escape("is a directory; point `model` at one .gguf file in it")):
        resolve_model(str(tmp_path))


def test_a_missing_path_and_an_empty_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        resolve_model(str(tmp_path / "nope.gguf"))
    assert "is not a file, a built-in model (default, default-1.5b) or an hf: reference" in str(info.value)
    with pytest.raises(ModelError, match="no model is configured"):
        resolve_model("   ")


# -- hf: references, offline, from a cache laid out like huggingface_hub's ---------------

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HF_HUB_CACHE with one repo: split Q4_K_M shards, a Q8_0 file, blobs behind symlinks."""
    import huggingface_hub.constants as hf_constants

    cache = tmp_path / "hub"
    repo = cache / "models--owner--Coder-GGUF"
    snap = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    files = ["coder-q4_k_m-00002-of-00002.gguf", "coder-q4_k_m-00001-of-00002.gguf",
             "coder-q8_0.gguf", "README.md"]
    for i, name in enumerate(files):
        blob = repo / "blobs" / hashlib.sha256(name.encode()).hexdigest()
        blob.write_bytes(b"GGUF" + bytes([i]))
        (snap / name).symlink_to(os.path.relpath(blob, snap))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    # huggingface_hub reads its environment once, at import: a process started with
    # these variables sees them there
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    return snap


def test_hf_quant_reference_picks_the_first_shard(hub_cache: Path) -> None:
    path = resolve_model("hf:owner/Coder-GGUF:Q4_K_M")
    assert path == hub_cache / "coder-q4_k_m-00001-of-00002.gguf"
    assert path.read_bytes() == b"GGUF\x01"
    assert resolve_model("hf:owner/Coder-GGUF:q8_0") == hub_cache / "coder-q8_0.gguf"


def test_hf_file_reference(hub_cache: Path) -> None:
    path = resolve_model("hf:owner/Coder-GGUF/coder-q8_0.gguf")
    assert path.name == "coder-q8_0.gguf"
    assert path.read_bytes() == b"GGUF\x02"


def test_hf_missing_file_offline_names_the_fix(hub_cache: Path) -> None:
    with pytest.raises(ModelError) as info:
        resolve_model("hf:owner/Coder-GGUF/coder-q2_k.gguf")
    msg = str(info.value)
    assert "coder-q2_k.gguf from owner/Coder-GGUF is not in the Hugging Face cache" in msg
    assert "offline mode is on" in msg
    assert "download it on a connected machine or point `model` at a local .gguf" in msg
    with pytest.raises(ModelError, match=r"no Q5_K_M GGUF of owner/Coder-GGUF in .* offline mode is on"):
        resolve_model("hf:owner/Coder-GGUF:Q5_K_M")
    with pytest.raises(ModelError, match=r"no GGUF of owner/Other in .*download it on a connected machine"):
        resolve_model("hf:owner/Other")


@pytest.mark.parametrize("value", ["true", "ON", "Yes"])
def test_hf_hub_offline_spellings_mean_offline(hub_cache: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    with pytest.raises(ModelError, match="offline mode is on"):
        resolve_model("hf:owner/Coder-GGUF/absent.gguf")


@pytest.mark.parametrize("spec", ["hf:", "hf:just-a-name", "hf:owner/repo:Q4 K M", "hf:a/b/c/notgguf.bin"])
def test_a_malformed_hf_reference_gets_the_usage(spec: str, hub_cache: Path) -> None:
    with pytest.raises(ModelError) as info:
        resolve_model(spec)
    msg = str(info.value)
    assert f"cannot read model reference '{spec}'" in msg
    assert "hf:owner/repo:QUANT" in msg and "hf:owner/repo/file.gguf" in msg
