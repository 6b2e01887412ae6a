"""Our GGUF header parser on small files written by the `gguf` package, and on bad files."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import gguf
import numpy as np
import pytest

from qwill.engine.gguf_reader import GGUFError, read_gguf_header

TOKENS = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>", "a", "b"]


def write_gguf(path: Path, *, big_array: int = 5000, tensors: bool = True,
               alignment: int | None = None) -> Path:
    w = gguf.GGUFWriter(str(path), arch="qwen2")
    w.add_name("Tiny test model")
    w.add_context_length(2048)
    w.add_embedding_length(8)
    w.add_block_count(2)
    w.add_head_count(2)
    w.add_float32("test.scale", 0.5)
    w.add_bool("test.flag", True)
    w.add_int64("test.big", -(1 << 40))
    w.add_array("test.per_layer", [3, 4])
    w.add_token_list(TOKENS)
    if big_array:
        # long numeric (like token scores): skipped by default; last of the metadata
        w.add_array("test.scores", [0.25] * big_array)
    if alignment:
        w.add_custom_alignment(alignment)
    if tensors:
        w.add_tensor("token_embd.weight", np.zeros((len(TOKENS), 8), dtype=np.float16))
        w.add_tensor("blk.0.attn_q.weight", np.ones((8, 8), dtype=np.float32))
        w.add_tensor("blk.1.ffn_up.weight", np.ones((3, 8), dtype=np.float32))
        # a Q8_0 tensor: one block of 32 elements per row is 34 bytes
        w.add_tensor("output.weight", np.zeros((2, 34), dtype=np.uint8),
                     raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return write_gguf(tmp_path / "tiny.gguf")


def test_metadata_reads_back(model: Path) -> None:
    h = read_gguf_header(model)
    assert h.version == 3
    assert h.architecture == "qwen2"
    assert h.name == "Tiny test model"
    assert h.context_length == 2048
    assert (h.embedding_length, h.block_count, h.head_count) == (8, 2, 2)
    assert h.metadata["test.scale"] == 0.5
    assert h.metadata["test.flag"] is True
    assert h.metadata["test.big"] == -(1 << 40)
    assert h.metadata["test.per_layer"] == [3, 4]
    assert h.metadata["test.scores"] == 5000  # skipped: its length
    assert h.tokens == TOKENS
    assert h.vocab_size == len(TOKENS)
    assert h.file_size == model.stat().st_size


def test_long_arrays_are_kept_when_asked(model: Path) -> None:
    h = read_gguf_header(model, keep_arrays=True)
    assert h.metadata["test.scores"] == [0.25] * 5000


def test_tensor_table_matches_the_gguf_package(model: Path) -> None:
    h = read_gguf_header(model)
    theirs = gguf.GGUFReader(model)
    assert [t.name for t in h.tensors] == [t.name for t in theirs.tensors]
    for ours, ref in zip(h.tensors, theirs.tensors, strict=True):
        assert ours.shape == tuple(int(d) for d in ref.shape)
        assert ours.ggml_type == int(ref.tensor_type)
        assert ours.n_bytes == int(ref.n_bytes)
        # ours is relative to the data section, theirs absolute
        assert ref.data_offset - ours.offset == theirs.data_offset
    by_name = {t.name: t for t in h.tensors}
    assert by_name["token_embd.weight"].shape == (8, len(TOKENS))  # ggml order: ne0 first
    assert by_name["output.weight"].n_bytes == 2 * 34
    assert by_name["blk.1.ffn_up.weight"].layer == 1
    assert by_name["token_embd.weight"].layer is None
    assert h.parameter_count == 8 * len(TOKENS) + 64 + 24 + 64
    assert h.tensor_bytes == sum(int(t.n_bytes) for t in theirs.tensors)


def test_custom_alignment_is_honoured(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "aligned.gguf", alignment=64)
    h = read_gguf_header(path)
    assert h.metadata["general.alignment"] == 64
    assert [t.offset % 64 for t in h.tensors] == [0] * len(h.tensors)


def _bad(path: Path, pattern: str) -> None:
    with pytest.raises(GGUFError, match=pattern) as info:
        read_gguf_header(path)
    assert str(path) in str(info.value)


def test_a_file_that_is_not_gguf(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_text("<!DOCTYPE html><html>Access denied</html>")
    _bad(path, re.escape("is not a GGUF model file (it does not start with 'GGUF')"))
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    _bad(empty, "is not a GGUF model file")


def test_a_truncated_header(model: Path) -> None:
    data = model.read_bytes()
    cut = data.index(b"tokenizer.ggml.tokens") + 10  # inside the metadata
    model.write_bytes(data[:cut])
    _bad(model, re.escape("file is truncated (GGUF header ends early)"))


def test_truncated_tensor_data(model: Path) -> None:
    data = model.read_bytes()
    model.write_bytes(data[:-40])
    _bad(model, r"is truncated: the tensors need [\d,]+ bytes but the file has [\d,]+")


def test_a_vocab_only_file_truncated_inside_a_skipped_array(tmp_path: Path) -> None:
    # no tensors, and the cut falls in a long array the reader skips by seeking
    path = write_gguf(tmp_path / "vocab.gguf", tensors=False)
    assert read_gguf_header(path).tensors == []
    data = path.read_bytes()
    start = data.index(b"test.scores")
    path.write_bytes(data[: start + 1000])
    _bad(path, "truncated")


@pytest.mark.parametrize("version", [1, 4, 0xFFFF])
def test_an_unsupported_version(model: Path, version: int) -> None:
    data = bytearray(model.read_bytes())
    data[4:8] = struct.pack("<I", version)
    model.write_bytes(bytes(data))
    _bad(model, re.escape(f"unsupported GGUF version {version} (expected 2 or 3)"))


def test_corrupt_counts_and_types(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 0))
    _bad(path, "corrupt GGUF header")
    # one key whose value type does not exist
    key = b"general.architecture"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key
                     + struct.pack("<I", 99))
    _bad(path, re.escape("unknown value type 99"))


def test_a_directory_and_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GGUFError, match=re.escape("is a directory, not a .gguf file")):
        read_gguf_header(tmp_path)
    missing = tmp_path / "nope.gguf"
    with pytest.raises(GGUFError, match=re.escape(f"model file not found: {missing}")):
        read_gguf_header(missing)
