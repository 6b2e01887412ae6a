"""Read a GGUF file's header (metadata and tensor table) without loading weights.

We parse the header ourselves rather than through llama.cpp so that a bad file
produces a clear message before llama.cpp ever sees it, and so that tools like
`qwill doctor` and memory planning can inspect a model in milliseconds.
"""

from __future__ import annotations

import re
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


# Numeric arrays up to this length are kept (per-layer head counts and the like);
# longer ones (token scores and types) are skipped unless asked for.
_SMALL_ARRAY = 4096

# Routed-expert weights, packed one tensor per layer (`blk.7.ffn_up_exps.weight`):
# the tensors llama.cpp's `--cpu-moe` keeps in RAM. Shared experts (`_shexp`) are
# always active and are not routed experts.
EXPERT_TENSOR_RE = re.compile(r"\.ffn_(up|down|gate|gate_up)_(ch)?exps\b")
_LAYER_RE = re.compile(r"^blk\.(\d+)\.")


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

    @property
    def layer(self) -> int | None:
        """The block index of a `blk.N.*` tensor; None for embeddings and output."""
        m = _LAYER_RE.match(self.name)
        return int(m.group(1)) if m else None

    @property
    def is_expert(self) -> bool:
        """A routed-expert weight (`ffn_{up,down,gate}_exps`)."""
        return EXPERT_TENSOR_RE.search(self.name) is not None


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

    def _arch_int(self, key: str, default: int = 0) -> int:
        value = self.arch_value(key)
        if isinstance(value, list):  # per-layer values: the largest one bounds memory
            value = max((int(v) for v in value), default=default)
        return int(value) if value is not None else default

    @property
    def expert_count(self) -> int:
        return self._arch_int("expert_count")

    @property
    def expert_used_count(self) -> int:
        return self._arch_int("expert_used_count")

    @property
    def is_moe(self) -> bool:
        return self.expert_count > 1 and any(t.is_expert for t in self.tensors)

    @property
    def block_count(self) -> int:
        n = self._arch_int("block_count")
        if n:
            return n
        layers = [t.layer for t in self.tensors if t.layer is not None]
        return max(layers) + 1 if layers else 0

    @property
    def embedding_length(self) -> int:
        return self._arch_int("embedding_length")

    @property
    def head_count(self) -> int:
        return self._arch_int("attention.head_count")

    @property
    def head_count_kv(self) -> int:
        return self._arch_int("attention.head_count_kv") or self.head_count

    @property
    def key_length(self) -> int:
        """Per-head key size; embedding / heads when the file does not say."""
        n = self._arch_int("attention.key_length")
        if n:
            return n
        return self.embedding_length // self.head_count if self.head_count else 0

    @property
    def value_length(self) -> int:
        n = self._arch_int("attention.value_length")
        return n or self.key_length

    @property
    def vocab_size(self) -> int:
        toks = self.metadata.get("tokenizer.ggml.tokens")
        if isinstance(toks, list) and toks:
            return len(toks)
        for t in self.tensors:
            if t.name == "token_embd.weight" and len(t.shape) == 2:
                return t.shape[1]
        return 0

    @property
    def recurrent_layers(self) -> frozenset[int]:
        """Layers with a recurrent state instead of a KV cache (Gated DeltaNet, Mamba)."""
        return frozenset(t.layer for t in self.tensors
                         if t.layer is not None and ".ssm_" in t.name)

    @property
    def expert_tensor_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors if t.is_expert)

    @property
    def expert_parameter_count(self) -> int:
        return sum(t.n_elements for t in self.tensors if t.is_expert)

    @property
    def active_parameter_count(self) -> int:
        """Parameters one token runs through: the dense part plus its share of experts."""
        total = self.parameter_count
        if not self.is_moe:
            return total
        experts = self.expert_parameter_count
        used = min(self.expert_used_count or self.expert_count, self.expert_count)
        return total - experts + experts * used // self.expert_count

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
            if itype in _SCALARS and not keep_arrays and n > _SMALL_ARRAY:
                _fmt, size = _SCALARS[itype]
                self.fh.seek(size * n, 1)
                return n
            return [self.value(itype, keep_arrays=keep_arrays) for _ in range(n)]
        raise GGUFError(f"{self.path}: corrupt GGUF header (unknown value type {vtype})")


def read_gguf_header(path: str | Path, *, keep_arrays: bool = False) -> GGUFHeader:
    """Parse the GGUF header at `path`.

    Long numeric arrays (token scores and types) are skipped unless `keep_arrays`
    is set: they are large and nothing outside llama.cpp needs them; a skipped
    array reads as its length. Short ones (per-layer values) and string arrays
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
    if header_end > size:  # a skipped array (seek, not read) ran past the end
        raise GGUFError(f"{p}: file is truncated (GGUF header ends early)")
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
