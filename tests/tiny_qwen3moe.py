"""Tiny random-weight `qwen3moe` (and `qwen3next`) GGUFs for the mixture-of-experts paths.

The file is written by the test suite with the `gguf` package: real Qwen3-MoE
structure (attention with q/k norms, a router, packed `ffn_*_exps` experts), a
few layers of random weights, and the default model's real tokenizer (so FIM
detection, tokenization and generation run exactly as on a real model). It
loads and generates in llama.cpp in about a second on a laptop CPU.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest


@dataclass(frozen=True)
class TinyMoeShape:
    n_layer: int = 4
    n_embd: int = 64
    n_head: int = 4
    n_head_kv: int = 2
    head_dim: int = 32
    n_expert: int = 8
    n_expert_used: int = 2
    n_ff_exp: int = 32
    context_length: int = 4096


TINY = TinyMoeShape()


def _copy_tokenizer(writer: object, source: Path) -> int:
    """Copy every `tokenizer.*` key (vocabulary, merges, special ids, template).

    Read with Qwill's own header reader (gguf.GGUFReader takes seconds to index
    a 150k-token vocabulary); value types follow the GGUF tokenizer convention.
    Returns the vocabulary size.
    """
    import gguf

    from qwill.engine.gguf_reader import read_gguf_header

    T = gguf.GGUFValueType
    header = read_gguf_header(source, keep_arrays=True)
    for name, value in header.metadata.items():
        if not name.startswith("tokenizer."):
            continue
        if isinstance(value, list):
            first = value[0] if value else ""
            sub = T.STRING if isinstance(first, str) else T.FLOAT32 if isinstance(first, float) else T.INT32
            writer.add_key_value(name, value, T.ARRAY, sub_type=sub)  # type: ignore[attr-defined]
        elif isinstance(value, bool):
            writer.add_key_value(name, value, T.BOOL)  # type: ignore[attr-defined]
        elif isinstance(value, int):
            writer.add_key_value(name, value, T.UINT32)  # type: ignore[attr-defined]
        else:
            writer.add_key_value(name, str(value), T.STRING)  # type: ignore[attr-defined]
    return len(header.tokens)


def _toy_tokenizer(writer: object) -> int:
    """A 64-token vocabulary with Qwen's FIM tokens: enough for header-level tests."""
    import gguf

    T = gguf.GGUFValueType
    special = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
               "<|repo_name|>", "<|file_sep|>", "<|im_start|>", "<|im_end|>"]
    tokens = [chr(ord("a") + i % 26) * (1 + i // 26) for i in range(64 - len(special))] + special
    writer.add_key_value("tokenizer.ggml.model", "gpt2", T.STRING)  # type: ignore[attr-defined]
    writer.add_key_value("tokenizer.ggml.tokens", tokens, T.ARRAY, sub_type=T.STRING)  # type: ignore[attr-defined]
    types = [1] * (64 - len(special)) + [3] * len(special)
    writer.add_key_value("tokenizer.ggml.token_type", types, T.ARRAY, sub_type=T.INT32)  # type: ignore[attr-defined]
    writer.add_key_value("tokenizer.ggml.merges", ["a a"], T.ARRAY, sub_type=T.STRING)  # type: ignore[attr-defined]
    return len(tokens)


def write_tiny_qwen3moe(path: Path, tokenizer_source: Path | None, *, shape: TinyMoeShape = TINY,
                        seed: int = 1234) -> Path:
    """Write the tiny model to `path` and return it.

    With `tokenizer_source` (the default model's GGUF) the file carries a real
    vocabulary and runs in llama.cpp; without, a 64-token toy vocabulary keeps it
    small and quick for tests that only read the header.
    """
    import gguf

    s = shape
    rng = np.random.default_rng(seed)

    def w(*dims: int, scale: float = 0.02, dtype: type = np.float32) -> np.ndarray:
        return (rng.standard_normal(dims) * scale).astype(dtype)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    writer = gguf.GGUFWriter(str(tmp), arch="qwen3moe")
    writer.add_name("Tiny Qwen3 MoE (random weights, test fixture)")
    writer.add_context_length(s.context_length)
    writer.add_embedding_length(s.n_embd)
    writer.add_block_count(s.n_layer)
    writer.add_feed_forward_length(s.n_ff_exp * 4)
    writer.add_head_count(s.n_head)
    writer.add_head_count_kv(s.n_head_kv)
    writer.add_key_length(s.head_dim)
    writer.add_value_length(s.head_dim)
    writer.add_rope_freq_base(1_000_000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_expert_count(s.n_expert)
    writer.add_expert_used_count(s.n_expert_used)
    writer.add_expert_feed_forward_length(s.n_ff_exp)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    n_vocab = _copy_tokenizer(writer, tokenizer_source) if tokenizer_source else _toy_tokenizer(writer)
    # numpy shapes are the reverse of ggml's (ne0 is the last numpy axis)
    writer.add_tensor("token_embd.weight", w(n_vocab, s.n_embd, dtype=np.float16))
    writer.add_tensor("output_norm.weight", ones(s.n_embd))
    q_dim, kv_dim = s.n_head * s.head_dim, s.n_head_kv * s.head_dim
    for i in range(s.n_layer):
        p = f"blk.{i}."
        writer.add_tensor(p + "attn_norm.weight", ones(s.n_embd))
        writer.add_tensor(p + "attn_q.weight", w(q_dim, s.n_embd, dtype=np.float16))
        writer.add_tensor(p + "attn_k.weight", w(kv_dim, s.n_embd, dtype=np.float16))
        writer.add_tensor(p + "attn_v.weight", w(kv_dim, s.n_embd, dtype=np.float16))
        writer.add_tensor(p + "attn_output.weight", w(s.n_embd, q_dim, dtype=np.float16))
        writer.add_tensor(p + "attn_q_norm.weight", ones(s.head_dim))
        writer.add_tensor(p + "attn_k_norm.weight", ones(s.head_dim))
        writer.add_tensor(p + "ffn_norm.weight", ones(s.n_embd))
        writer.add_tensor(p + "ffn_gate_inp.weight", w(s.n_expert, s.n_embd))
        writer.add_tensor(p + "ffn_gate_exps.weight",
                          w(s.n_expert, s.n_ff_exp, s.n_embd, dtype=np.float16))
        writer.add_tensor(p + "ffn_up_exps.weight",
                          w(s.n_expert, s.n_ff_exp, s.n_embd, dtype=np.float16))
        writer.add_tensor(p + "ffn_down_exps.weight",
                          w(s.n_expert, s.n_embd, s.n_ff_exp, dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(path)
    return path


def write_tiny_qwen3next(path: Path, tokenizer_source: Path | None, *, seed: int = 7) -> Path:
    """A tiny `qwen3next` (Qwen3-Coder-Next's architecture): 3 Gated DeltaNet layers and one
    gated-attention layer, 8 routed experts (2 used) plus a shared expert in every layer."""
    import gguf

    rng = np.random.default_rng(seed)

    def w(*dims: int, dtype: type = np.float16) -> np.ndarray:
        return (rng.standard_normal(dims) * 0.02).astype(dtype)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    n_embd, n_layer, n_head, n_kv, hd = 64, 4, 4, 2, 32
    n_exp, ff = 8, 32
    k_heads, v_heads, d_head, conv = 2, 4, 16, 4
    d_inner = v_heads * d_head
    qkv = 2 * k_heads * d_head + d_inner
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    wr = gguf.GGUFWriter(str(tmp), arch="qwen3next")
    wr.add_name("Tiny Qwen3-Next (random weights, test fixture)")
    wr.add_context_length(4096)
    wr.add_embedding_length(n_embd)
    wr.add_block_count(n_layer)
    wr.add_feed_forward_length(4 * ff)
    wr.add_head_count(n_head)
    wr.add_head_count_kv(n_kv)
    wr.add_key_length(hd)
    wr.add_value_length(hd)
    wr.add_rope_freq_base(1e7)
    wr.add_rope_dimension_count(hd // 4)
    wr.add_layer_norm_rms_eps(1e-6)
    wr.add_expert_count(n_exp)
    wr.add_expert_used_count(2)
    wr.add_expert_feed_forward_length(ff)
    wr.add_expert_shared_feed_forward_length(ff)
    wr.add_ssm_conv_kernel(conv)
    wr.add_ssm_state_size(d_head)
    wr.add_ssm_group_count(k_heads)
    wr.add_ssm_time_step_rank(v_heads)
    wr.add_ssm_inner_size(d_inner)
    wr.add_full_attention_interval(4)
    n_vocab = _copy_tokenizer(wr, tokenizer_source) if tokenizer_source else _toy_tokenizer(wr)
    wr.add_tensor("token_embd.weight", w(n_vocab, n_embd))
    wr.add_tensor("output_norm.weight", ones(n_embd))
    wr.add_tensor("output.weight", w(n_vocab, n_embd))
    for i in range(n_layer):
        p = f"blk.{i}."
        wr.add_tensor(p + "attn_norm.weight", ones(n_embd))
        wr.add_tensor(p + "post_attention_norm.weight", ones(n_embd))
        if (i + 1) % 4:  # Gated DeltaNet
            wr.add_tensor(p + "attn_qkv.weight", w(qkv, n_embd))
            wr.add_tensor(p + "attn_gate.weight", w(d_inner, n_embd))
            wr.add_tensor(p + "ssm_ba.weight", w(2 * v_heads, n_embd))
            wr.add_tensor(p + "ssm_a", -ones(v_heads))
            wr.add_tensor(p + "ssm_dt.bias", np.zeros(v_heads, dtype=np.float32))
            wr.add_tensor(p + "ssm_conv1d.weight", w(qkv, conv, dtype=np.float32))
            wr.add_tensor(p + "ssm_norm.weight", ones(d_head))
            wr.add_tensor(p + "ssm_out.weight", w(n_embd, d_inner))
        else:  # gated attention: query and gate in one projection
            wr.add_tensor(p + "attn_q.weight", w(2 * n_head * hd, n_embd))
            wr.add_tensor(p + "attn_k.weight", w(n_kv * hd, n_embd))
            wr.add_tensor(p + "attn_v.weight", w(n_kv * hd, n_embd))
            wr.add_tensor(p + "attn_output.weight", w(n_embd, n_head * hd))
            wr.add_tensor(p + "attn_q_norm.weight", ones(hd))
            wr.add_tensor(p + "attn_k_norm.weight", ones(hd))
        wr.add_tensor(p + "ffn_gate_inp.weight", w(n_exp, n_embd, dtype=np.float32))
        wr.add_tensor(p + "ffn_gate_exps.weight", w(n_exp, ff, n_embd))
        wr.add_tensor(p + "ffn_up_exps.weight", w(n_exp, ff, n_embd))
        wr.add_tensor(p + "ffn_down_exps.weight", w(n_exp, n_embd, ff))
        wr.add_tensor(p + "ffn_gate_inp_shexp.weight", w(n_embd, dtype=np.float32))
        wr.add_tensor(p + "ffn_gate_shexp.weight", w(ff, n_embd))
        wr.add_tensor(p + "ffn_up_shexp.weight", w(ff, n_embd))
        wr.add_tensor(p + "ffn_down_shexp.weight", w(n_embd, ff))
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
    tmp.replace(path)
    return path


def _written_once(tmp_path_factory: pytest.TempPathFactory, name: str, write: Callable[[Path], Path]) -> Path:
    """One file per test run, shared by every module that asks for it."""
    target = tmp_path_factory.getbasetemp() / name
    if not target.exists():
        write(target)
    return target


def tiny_moe_file(tmp_path_factory: pytest.TempPathFactory, default_model_path: Path) -> Path:
    """The tiny qwen3moe GGUF with the real tokenizer."""
    return _written_once(tmp_path_factory, "tiny-qwen3moe.gguf",
                         lambda p: write_tiny_qwen3moe(p, default_model_path))


def toy_moe_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same structure with a 64-token toy vocabulary: header-level tests, no llama.cpp."""
    return _written_once(tmp_path_factory, "toy-qwen3moe.gguf", lambda p: write_tiny_qwen3moe(p, None))


def tiny_next_file(tmp_path_factory: pytest.TempPathFactory, default_model_path: Path) -> Path:
    """The tiny qwen3next GGUF with the real tokenizer."""
    return _written_once(tmp_path_factory, "tiny-qwen3next.gguf",
                         lambda p: write_tiny_qwen3next(p, default_model_path))
