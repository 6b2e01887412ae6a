"""FIM formats: detected from each family's vocabulary, rendered in its layout."""

from __future__ import annotations

import pytest

from qwill.engine.fim import (
    TEMPLATES,
    ContextFile,
    UnsupportedModel,
    detect_template,
    get_template,
)

COMMON = ["a", "b", "def", "Ġreturn", "<unk>", "<s>", "</s>"]

# The special tokens each family's GGUF vocabulary carries (as the converters store them).
VOCABS: dict[str, list[str]] = {
    "qwen": ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|fim_prefix|>", "<|fim_middle|>",
             "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"],
    "codegemma": ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>", "<|fim_prefix|>",
                  "<|fim_middle|>", "<|fim_suffix|>", "<|file_separator|>"],
    "starcoder": ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>",
                  "<repo_name>", "<file_sep>", "<issue_start>"],
    "deepseek": ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜fim▁hole｜>",
                 "<｜fim▁begin｜>", "<｜fim▁end｜>", "<|EOT|>"],
    "codellama": ["▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>"],
    "codestral": ["[INST]", "[/INST]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]"],
}


@pytest.mark.parametrize("family", sorted(VOCABS))
def test_each_family_is_detected_from_its_vocabulary(family: str) -> None:
    # the name says nothing (or something misleading): the vocabulary decides
    tpl = detect_template(COMMON + VOCABS[family], architecture="llama", name="my-finetune")
    assert tpl.name == family
    assert all(tok in VOCABS[family] for tok in tpl.signature)


def test_codellama_tokens_without_the_sentencepiece_space() -> None:
    assert detect_template([*COMMON, "<PRE>", "<SUF>", "<MID>", "<EOT>"]).name == "codellama"


def test_codegemma_is_not_mistaken_for_qwen_nor_qwen_for_codegemma() -> None:
    # both use <|fim_prefix|>; only CodeGemma has <|file_separator|>, only Qwen <|fim_pad|>
    assert detect_template(VOCABS["codegemma"]).name == "codegemma"
    assert detect_template(VOCABS["qwen"]).name == "qwen"


@pytest.mark.parametrize(
    ("architecture", "name", "family"),
    [
        ("qwen2", "Qwen2.5 Coder 0.5B Instruct", "qwen"),
        ("starcoder2", "StarCoder2 3B", "starcoder"),
        ("deepseek2", "DeepSeek-Coder-V2-Lite", "deepseek"),
        ("llama", "CodeLlama 7B", "codellama"),
        ("llama", "Codestral 22B", "codestral"),
        ("gemma", "codegemma-2b", "codegemma"),
    ],
)
def test_fallback_by_architecture_and_name(architecture: str, name: str, family: str) -> None:
    assert detect_template(COMMON, architecture=architecture, name=name).name == family


def test_a_model_without_fim_is_unsupported_with_a_way_out() -> None:
    with pytest.raises(UnsupportedModel) as info:
        detect_template(COMMON, architecture="llama", name="Llama 3.1 8B Instruct")
    msg = str(info.value)
    assert "no fill-in-the-middle tokens" in msg
    assert "completion.fimTemplate" in msg
    for family in TEMPLATES:
        assert family in msg


def test_get_template_by_name() -> None:
    assert get_template("starcoder") is TEMPLATES["starcoder"]
    with pytest.raises(UnsupportedModel, match="unknown FIM template 'gpt'; known: qwen"):
        get_template("gpt")


PRE, SUF, MID = "def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n", "a +"


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        ("qwen", f"<|fim_prefix|>{PRE}<|fim_suffix|>{SUF}<|fim_middle|>{MID}"),
        ("codegemma", f"<|fim_prefix|>{PRE}<|fim_suffix|>{SUF}<|fim_middle|>{MID}"),
        ("starcoder", f"<fim_prefix>{PRE}<fim_suffix>{SUF}<fim_middle>{MID}"),
        ("deepseek", f"<｜fim▁begin｜>{PRE}<｜fim▁hole｜>{SUF}<｜fim▁end｜>{MID}"),
        ("codellama", f"<PRE> {PRE} <SUF>{SUF} <MID>{MID}"),
        # suffix first, and the text typed so far continues the prefix
        ("codestral", f"[SUFFIX]{SUF}[PREFIX]{PRE}{MID}"),
    ],
)
def test_render_layouts(family: str, expected: str) -> None:
    assert TEMPLATES[family].render(PRE, SUF, middle=MID) == expected


def test_typing_only_appends_to_the_prompt() -> None:
    """The prefix and suffix are frozen at the anchor: what is typed lands at the end."""
    for tpl in TEMPLATES.values():
        before = tpl.render(PRE, SUF, middle="")
        after = tpl.render(PRE, SUF, middle="a + b")
        assert after == before + "a + b", tpl.name


CONTEXT = [ContextFile("src/util.py", "def helper():\n    return 1\n\n"),
           ContextFile("src/model.py", "class Model:\n    pass")]


def test_qwen_repo_level_context() -> None:
    prompt = TEMPLATES["qwen"].render(PRE, SUF, path="src/main.py", context=CONTEXT, repo="shop")
    assert prompt == (
        "<|repo_name|>shop\n"
        "<|file_sep|>src/util.py\ndef helper():\n    return 1\n"
        "<|file_sep|>src/model.py\nclass Model:\n    pass\n"
        "<|file_sep|>src/main.py\n"
        f"<|fim_prefix|>{PRE}<|fim_suffix|>{SUF}<|fim_middle|>"
    )


def test_repo_header_only_when_there_is_context_or_a_repo() -> None:
    qwen = TEMPLATES["qwen"]
    assert qwen.render(PRE, SUF, path="src/main.py") == f"<|fim_prefix|>{PRE}<|fim_suffix|>{SUF}<|fim_middle|>"
    assert qwen.render(PRE, SUF, path="a.py", repo="r").startswith("<|repo_name|>r\n<|file_sep|>a.py\n<|fim_prefix|>")
    # without a repo name the workspace stands in
    assert qwen.render_context(CONTEXT[:1]).startswith("<|repo_name|>workspace\n<|file_sep|>src/util.py\n")


def test_codegemma_file_separator_context_has_no_repo_name() -> None:
    prompt = TEMPLATES["codegemma"].render(PRE, SUF, path="src/main.py", context=CONTEXT[:1])
    assert prompt.startswith("<|file_separator|>src/util.py\ndef helper():\n    return 1\n"
                             "<|file_separator|>src/main.py\n<|fim_prefix|>")


@pytest.mark.parametrize("family", ["deepseek", "codellama", "codestral"])
def test_families_without_file_tokens_get_comment_headers(family: str) -> None:
    tpl = TEMPLATES[family]
    head = tpl.render_context(CONTEXT)
    assert head == "# src/util.py\ndef helper():\n    return 1\n\n# src/model.py\nclass Model:\n    pass\n\n"
    # the context stays in front of the FIM layout, so the cache keeps it between anchors
    assert tpl.render(PRE, SUF, context=CONTEXT).startswith(head)


def test_every_template_stops_when_the_model_starts_a_new_fim_prompt() -> None:
    for tpl in TEMPLATES.values():
        assert tpl.prefix.strip() in tpl.stop, tpl.name
