"""Read a GGUF file's header (metadata and tensor table) without loading weights.

We parse the header ourselves rather than through llama.cpp so that a bad file
produces a clear message before llama.cpp ever sees it, and so that tools like
`qwill doctor` and memory planning can inspect a model in milliseconds.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

GGUF_MAGIC = b"GGUF"

# GGUF metadata value types.
_SCALARS: dict[int, tuple[str, int]] = {
    0: ("<B", 1),  # uint8
    1: ("<b", 1),  # int8
    2: ("<H", 2),  # uint16
    3: ("<h", 2),  # int16
    4: ("<I", 4),  # uint32
    5: ("<i", 4),  # int32
    6: ("<f", 4),  # float32
    7: ("<?", 1),  # bool
    10: ("<Q", 8),  # uint64
    11: ("<q", 8),  # int64
    12: ("<d", 8),  # float64
}
_STRING = 8
_ARRAY = 9

# ggml tensor types -> (block size in elements, bytes per block).
GGML_TYPE_SIZES: dict[int, tuple[int, int]] = {
    0: (1, 4),  # F32
    1: (1, 2),  # F16
    2: (32, 18),  # Q4_0
    3: (32, 20),  # Q4_1
    6: (32, 22),  # Q5_0
    7: (32, 24),  # Q5_1
    8: (32, 34),  # Q8_0
    9: (32, 36),  # Q8_1
    10: (256, 84),  # Q2_K
    11: (256, 110),  # Q3_K
    12: (256, 144),  # Q4_K
    13: (256, 176),  # Q5_K
    14: (256, 210),  # Q6_K
    15: (256, 292),  # Q8_K
    16: (256, 66),  # IQ2_XXS
    17: (256, 74),  # IQ2_XS
    18: (256, 98),  # IQ3_XXS
    19: (256, 50),  # IQ1_S
    20: (32, 18),  # IQ4_NL
    21: (256, 110),  # IQ3_S
    22: (256, 82),  # IQ2_S
    23: (256, 136),  # IQ4_XS
    24: (1, 1),  # I8
    25: (1, 2),  # I16
    26: (1, 4),  # I32
    27: (1, 8),  # I64
    28: (1, 8),  # F64
    29: (256, 56),  # IQ1_M
    30: (1, 2),  # BF16
    34: (256, 54),  # TQ1_0
    35: (256, 66),  # TQ2_0
    39: (32, 17),  # MXFP4
}


class GGUFError(ValueError):
    """The file is not a readable GGUF model."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def n_bytes(self) -> int:
        block, size = GGML_TYPE_SIZES.get(self.ggml_type, (1, 4))
        return (self.n_elements + block - 1) // block * size


@dataclass
class GGUFHeader:
    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo] = field(default_factory=list)
    file_size: int = 0

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    def arch_value(self, key: str, default: Any = None) -> Any:
        """A per-architecture key such as `context_length` (`{arch}.context_length`)."""
        return self.metadata.get(f"{self.architecture}.{key}", default)

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name", self.path.stem))

    @property
    def context_length(self) -> int | None:
        value = self.arch_value("context_length")
        return int(value) if value is not None else None

    @property
    def expert_count(self) -> int:
        return int(self.arch_value("expert_count", 0) or 0)

    @property
    def expert_used_count(self) -> int:
        return int(self.arch_value("expert_used_count", 0) or 0)

    @property
    def tokens(self) -> list[str]:
        toks = self.metadata.get("tokenizer.ggml.tokens")
        return list(toks) if isinstance(toks, list) else []

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return str(value) if value is not None else None

    @property
    def tensor_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors)

    @property
    def parameter_count(self) -> int:
        return sum(t.n_elements for t in self.tensors)


class _Reader:
    def __init__(self, fh: IO[bytes], path: Path) -> None:
        self.fh = fh
        self.path = path

    def read(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise GGUFError(f"{self.path}: file is truncated (GGUF header ends early)")
        return data

    def scalar(self, fmt: str, size: int) -> Any:
        return struct.unpack(fmt, self.read(size))[0]

    def u32(self) -> int:
        return int(self.scalar("<I", 4))

    def u64(self) -> int:
        return int(self.scalar("<Q", 8))

    def string(self) -> str:
        n = self.u64()
        if n > 1 << 30:
            raise GGUFError(f"{self.path}: corrupt GGUF header (string of {n} bytes)")
        return self.read(n).decode("utf-8", errors="replace")

    def value(self, vtype: int, *, keep_arrays: bool) -> Any:
        if vtype in _SCALARS:
            return self.scalar(*_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            itype = self.u32()
            n = self.u64()
            if n > 1 << 28:
                raise GGUFError(f"{self.path}: corrupt GGUF header (array of {n} items)")
            if itype in _SCALARS and not keep_arrays:
                _fmt, size = _SCALARS[itype]
                self.fh.seek(size * n, 1)
                return n
            return [self.value(itype, keep_arrays=keep_arrays) for _ in range(n)]
        raise GGUFError(f"{self.path}: corrupt GGUF header (unknown value type {vtype})")


def read_gguf_header(path: str | Path, *, keep_arrays: bool = False) -> GGUFHeader:
    """Parse the GGUF header at `path`.

    Numeric arrays (token scores and types) are skipped unless `keep_arrays` is
    set: they are large and nothing outside llama.cpp needs them. String arrays
    (the vocabulary) are always read.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        fh = p.open("rb")
    except FileNotFoundError:
        raise GGUFError(f"model file not found: {p}") from None
    except IsADirectoryError:
        raise GGUFError(f"{p} is a directory, not a .gguf file") from None
    except OSError as exc:
        raise GGUFError(f"cannot read model file {p}: {exc.strerror}") from None
    with fh:
        r = _Reader(fh, p)
        magic = fh.read(4)
        if magic != GGUF_MAGIC:
            raise GGUFError(f"{p} is not a GGUF model file (it does not start with 'GGUF')")
        version = r.u32()
        if version not in (2, 3):
            raise GGUFError(f"{p}: unsupported GGUF version {version} (expected 2 or 3)")
        n_tensors = r.u64()
        n_kv = r.u64()
        if n_tensors > 1 << 20 or n_kv > 1 << 20:
            raise GGUFError(f"{p}: corrupt GGUF header (counts {n_tensors}/{n_kv})")
        metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = r.string()
            vtype = r.u32()
            metadata[key] = r.value(vtype, keep_arrays=keep_arrays)
        tensors: list[TensorInfo] = []
        for _ in range(n_tensors):
            name = r.string()
            n_dims = r.u32()
            if n_dims > 8:
                raise GGUFError(f"{p}: corrupt GGUF tensor table ({n_dims} dimensions)")
            shape = tuple(r.u64() for _ in range(n_dims))
            ggml_type = r.u32()
            offset = r.u64()
            tensors.append(TensorInfo(name, shape, ggml_type, offset))
        header_end = fh.tell()
    header = GGUFHeader(path=p, version=version, metadata=metadata, tensors=tensors, file_size=size)
    alignment = int(metadata.get("general.alignment", 32) or 32)
    data_start = (header_end + alignment - 1) // alignment * alignment
    if tensors:
        last = max(tensors, key=lambda t: t.offset)
        needed = data_start + last.offset + last.n_bytes
        if needed > size:
            raise GGUFError(
                f"{p} is truncated: the tensors need {needed:,} bytes but the file has {size:,}"
            )
    return header
