"""Reading a mixture-of-experts GGUF: experts, active parameters, per-tensor sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwill.engine.gguf_reader import GGML_TYPE_SIZES, GGUFHeader, TensorInfo, read_gguf_header
from tests.tiny_qwen3moe import TINY, toy_moe_file


@pytest.fixture(scope="module")
def toy_moe_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return toy_moe_file(tmp_path_factory)


def test_header_reports_the_experts_and_the_shape(toy_moe_path: Path) -> None:
    h = read_gguf_header(toy_moe_path)
    assert h.architecture == "qwen3moe"
    assert h.is_moe
    assert (h.expert_count, h.expert_used_count) == (TINY.n_expert, TINY.n_expert_used)
    assert (h.block_count, h.embedding_length) == (TINY.n_layer, TINY.n_embd)
    assert (h.head_count, h.head_count_kv, h.key_length, h.value_length) == (
        TINY.n_head, TINY.n_head_kv, TINY.head_dim, TINY.head_dim)
    assert h.vocab_size == 64
    assert h.recurrent_layers == frozenset()


def test_active_parameters_count_only_the_experts_a_token_uses(toy_moe_path: Path) -> None:
    h = read_gguf_header(toy_moe_path)
    per_layer_experts = 3 * TINY.n_expert * TINY.n_ff_exp * TINY.n_embd
    assert h.expert_parameter_count == TINY.n_layer * per_layer_experts
    dense = h.parameter_count - h.expert_parameter_count
    used = TINY.n_layer * per_layer_experts * TINY.n_expert_used // TINY.n_expert
    assert h.active_parameter_count == dense + used
    assert h.active_parameter_count < h.parameter_count


def test_expert_tensors_and_their_sizes(toy_moe_path: Path) -> None:
    h = read_gguf_header(toy_moe_path)
    experts = [t for t in h.tensors if t.is_expert]
    assert sorted({t.name.split(".")[2] for t in experts}) == ["ffn_down_exps", "ffn_gate_exps", "ffn_up_exps"]
    assert {t.layer for t in experts} == set(range(TINY.n_layer))
    # f16 experts: 2 bytes an element; the router (ffn_gate_inp) is not an expert
    assert all(t.n_bytes == t.n_elements * 2 for t in experts)
    assert not any(t.is_expert for t in h.tensors if "gate_inp" in t.name)
    assert h.expert_tensor_bytes == sum(t.n_bytes for t in experts)
    # the tensors fill the file (header + aligned data)
    assert h.tensor_bytes < h.file_size


def test_tensor_classification() -> None:
    def t(name: str) -> TensorInfo:
        return TensorInfo(name, (64, 32, 8), 12, 0)

    assert t("blk.7.ffn_up_exps.weight").is_expert
    assert t("blk.7.ffn_gate_up_exps.weight").is_expert
    assert not t("blk.7.ffn_up_shexp.weight").is_expert  # shared expert: always active
    assert not t("blk.7.ffn_up.weight").is_expert
    assert t("blk.12.attn_q.weight").layer == 12
    assert t("token_embd.weight").layer is None
    # Q4_K: 256-element blocks of 144 bytes
    assert t("x").n_bytes == 64 * 32 * 8 // 256 * GGML_TYPE_SIZES[12][1]


def test_dense_model_has_no_active_discount() -> None:
    h = GGUFHeader(Path("dense.gguf"), 3, {"general.architecture": "qwen2", "qwen2.block_count": 2},
                   [TensorInfo("token_embd.weight", (64, 100), 1, 0),
                    TensorInfo("blk.0.ffn_up.weight", (64, 256), 1, 0),
                    TensorInfo("blk.1.ffn_up.weight", (64, 256), 1, 0)])
    assert not h.is_moe
    assert h.active_parameter_count == h.parameter_count == 64 * 100 + 2 * 64 * 256
    assert h.vocab_size == 100  # from the embedding when there is no vocabulary


def test_per_layer_arrays_are_read_and_bound_memory(tmp_path: Path) -> None:
    import gguf

    path = tmp_path / "arr.gguf"
    w = gguf.GGUFWriter(str(path), arch="llama")
    w.add_block_count(3)
    w.add_head_count(8)
    w.add_head_count_kv([2, 4, 2])  # per-layer KV heads (OpenELM-style)
    w.add_embedding_length(256)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    h = read_gguf_header(path)
    assert h.metadata["llama.attention.head_count_kv"] == [2, 4, 2]
    assert h.head_count_kv == 4
    assert h.key_length == 32  # embedding / heads when key_length is absent
