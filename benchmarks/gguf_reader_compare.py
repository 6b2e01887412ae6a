"""qwill.engine.gguf_reader against the `gguf` package's GGUFReader, on real GGUFs.

For each model (the two built-in Qwen2.5-Coder GGUFs in the model cache, and the tiny
qwen3moe / qwen3next files the test suite writes with `gguf`): do both readers agree
on every metadata value Qwill keeps and on every tensor (name, shape, type, data
offset, size in bytes)? How long does each take to read the header, cold and warm?
Then broken files, as a user's download can leave them (cut at several points of the
header and of the tensor data, a wrong magic, a corrupt count): does the reader
refuse with a message, or hand back something, or fail with an internal error?

    python -m benchmarks.gguf_reader_compare [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qwill.engine.gguf_reader import GGUFError, read_gguf_header
from qwill.engine.resolve import BUILTIN_MODELS, model_cache_dir


def models(work: Path) -> list[Path]:
    found = [model_cache_dir() / m.filename for m in BUILTIN_MODELS.values()]
    found = [p for p in found if p.exists()]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.tiny_qwen3moe import write_tiny_qwen3moe, write_tiny_qwen3next

    tokenizer = found[0] if found else None
    found.append(write_tiny_qwen3moe(work / "tiny-qwen3moe.gguf", tokenizer))
    found.append(write_tiny_qwen3next(work / "tiny-qwen3next.gguf", tokenizer))
    return found


def _theirs(path: Path) -> Any:
    import gguf

    return gguf.GGUFReader(str(path))


def _their_value(field: Any) -> Any:
    value = field.contents()
    if hasattr(value, "tolist"):
        value = value.tolist()
    return value


def agree(path: Path) -> dict[str, Any]:
    """Differences between the two readers on one file (empty lists: they agree)."""
    ours = read_gguf_header(path, keep_arrays=True)
    theirs = _theirs(path)
    meta_diff = []
    their_meta = {name: f for name, f in theirs.fields.items() if not name.startswith("GGUF.")}
    for key in sorted(set(ours.metadata) | set(their_meta)):
        if key not in ours.metadata or key not in their_meta:
            meta_diff.append(f"{key}: only in {'gguf' if key in their_meta else 'qwill'}")
            continue
        a, b = ours.metadata[key], _their_value(their_meta[key])
        if isinstance(a, float) and isinstance(b, float):
            same = abs(a - b) <= 1e-6 * max(1.0, abs(a))
        else:
            same = a == b
        if not same:
            meta_diff.append(f"{key}: qwill {str(a)[:40]!r} vs gguf {str(b)[:40]!r}")
    tensor_diff = []
    mine = {t.name: t for t in ours.tensors}
    for t in theirs.tensors:
        m = mine.get(t.name)
        if m is None:
            tensor_diff.append(f"{t.name}: only in gguf")
            continue
        data_start = int(theirs.data_offset)
        got = (tuple(int(d) for d in t.shape), int(t.tensor_type), data_start + m.offset, m.n_bytes)
        want = (tuple(int(d) for d in t.shape), int(t.tensor_type), int(t.data_offset), int(t.n_bytes))
        if (m.shape, m.ggml_type, data_start + m.offset, m.n_bytes) != want:
            tensor_diff.append(f"{t.name}: qwill {got} vs gguf {want}")
    if len(mine) != len(theirs.tensors):
        tensor_diff.append(f"tensor count: qwill {len(mine)} vs gguf {len(theirs.tensors)}")
    return {"metadata_keys": len(ours.metadata), "tensors": len(ours.tensors),
            "metadata_differences": meta_diff, "tensor_differences": tensor_diff}


def _time(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def speed(path: Path, repeat: int) -> dict[str, float]:
    return {
        "qwill_ms": round(_time(lambda: read_gguf_header(path), repeat) * 1000, 2),
        "qwill_all_arrays_ms": round(_time(lambda: read_gguf_header(path, keep_arrays=True), repeat) * 1000, 2),
        "gguf_ms": round(_time(lambda: _theirs(path), repeat) * 1000, 2),
    }


def broken_files(source: Path, work: Path) -> list[tuple[str, Path]]:
    """Copies of `source` broken the ways a download or a disk breaks them."""
    data = source.read_bytes()
    header_end = _header_end(source)
    out: list[tuple[str, Path]] = []

    def put(name: str, blob: bytes) -> None:
        p = work / f"broken-{len(out)}.gguf"
        p.write_bytes(blob)
        out.append((name, p))

    for frac in (0.1, 0.5, 0.9):
        put(f"cut inside the header ({int(frac * 100)}%)", data[:int(header_end * frac)])
    put("cut just after the header", data[:header_end + 16])
    put("cut halfway through the tensor data", data[:len(data) // 2])
    put("the last byte missing", data[:-1])
    put("not a GGUF file", b"PK\x03\x04" + data[4:4096])
    put("corrupt tensor count", data[:8] + struct.pack("<Q", 1 << 40) + data[16:])
    put("empty file", b"")
    return out


def _header_end(path: Path) -> int:
    import gguf

    reader = gguf.GGUFReader(str(path))
    return int(reader.data_offset)


def refusals(cases: list[tuple[str, Path]]) -> list[dict[str, str]]:
    rows = []
    for name, path in cases:
        row = {"case": name}
        try:
            read_gguf_header(path)
            row["qwill"] = "accepted"
        except GGUFError as exc:
            row["qwill"] = f"refused: {str(exc).replace(str(path), '<file>')[:90]}"
        except Exception as exc:
            row["qwill"] = f"internal error {type(exc).__name__}: {exc}"[:100]
        try:
            _theirs(path)
            row["gguf"] = "accepted"
        except Exception as exc:
            row["gguf"] = f"{type(exc).__name__}: {str(exc).replace(str(path), '<file>')[:80]}"
        rows.append(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args()
    from importlib.metadata import version

    results: dict[str, Any] = {"gguf_version": version("gguf"), "models": {}}
    print(f"gguf package {results['gguf_version']}; {platform.machine()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = models(work)
        for path in paths:
            a = agree(path)
            s = speed(path, args.repeat)
            results["models"][path.name] = {**a, **s, "bytes": path.stat().st_size}
            print(f"\n{path.name} ({path.stat().st_size / 1e6:,.0f} MB): {a['metadata_keys']} metadata keys, "
                  f"{a['tensors']} tensors")
            print(f"  metadata differences: {len(a['metadata_differences'])}, "
                  f"tensor differences: {len(a['tensor_differences'])}")
            for d in (a["metadata_differences"] + a["tensor_differences"])[:6]:
                print(f"    {d}")
            print(f"  header read: qwill {s['qwill_ms']} ms (all arrays {s['qwill_all_arrays_ms']} ms), "
                  f"gguf.GGUFReader {s['gguf_ms']} ms")
        smallest_real = min((p for p in paths if not p.name.startswith("tiny")), key=lambda p: p.stat().st_size,
                            default=paths[0])
        rows = refusals(broken_files(smallest_real, work))
        results["broken"] = rows
        print(f"\nbroken copies of {smallest_real.name}:")
        for row in rows:
            print(f"  {row['case']:38} qwill: {row['qwill']}\n  {'':38} gguf:  {row['gguf']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
