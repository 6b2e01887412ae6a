"""Fill-in-the-middle prompt formats, chosen from the model's own vocabulary.

A FIM prompt travels as `FimParts` (prefix, suffix, typed middle, context files) inside
a GenerationRequest; each engine renders the parts its own way: a local engine with
its `FimTemplate`, llama.cpp's server through `/infill`'s fields. Like chat.py for
chat models, this is the engine's knowledge of the model's prompt format.

Each code model family was trained on one FIM layout with its own special
tokens. We detect the family from the tokens present in the GGUF vocabulary
(the most reliable signal: names and metadata vary between converters) and
render prompts in that layout. `middle` is text the user has typed since the
prompt was anchored; placing it after the middle marker keeps the prefix and
suffix (and so the KV cache) unchanged while the user types.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ContextFile:
    """A stable block of repository context (another file or a snippet of one)."""

    path: str
    text: str


@dataclass(frozen=True)
class FimParts:
    """A fill-in-the-middle prompt before it is rendered."""

    prefix: str
    suffix: str
    # typed since the prompt was anchored: goes after the middle marker
    middle: str = ""
    # the current file as context blocks name it (shown after them in repo formats)
    path: str | None = None
    context: tuple[ContextFile, ...] = ()
    repo: str | None = None


@dataclass(frozen=True)
class FimTemplate:
    name: str
    prefix: str
    suffix: str
    middle: str
    stop: tuple[str, ...]
    # Psm: prefix-suffix-middle order; False for suffix-first (Codestral's [SUFFIX] first).
    psm: bool = True
    # Repository-level context format (None: plain comment headers).
    repo_name: str | None = None
    file_sep: str | None = None
    # Tokens whose presence in the vocabulary identifies the family.
    signature: tuple[str, ...] = field(default=())

    def render(
        self,
        prefix: str,
        suffix: str,
        *,
        middle: str = "",
        path: str | None = None,
        context: Sequence[ContextFile] = (),
        repo: str | None = None,
    ) -> str:
        """The full prompt: stable context blocks first, then the FIM triple."""
        head = self.render_context(context, repo=repo, path=path)
        if self.psm:
            return f"{head}{self.prefix}{prefix}{self.suffix}{suffix}{self.middle}{middle}"
        return f"{head}{self.suffix}{suffix}{self.prefix}{prefix}{middle}"

    def render_parts(self, parts: FimParts) -> str:
        """`render` of a request's FIM parts."""
        return self.render(parts.prefix, parts.suffix, middle=parts.middle, path=parts.path,
                           context=parts.context, repo=parts.repo)

    def render_context(
        self, context: Sequence[ContextFile], *, repo: str | None = None, path: str | None = None
    ) -> str:
        """Context blocks and the current file's header, in the family's repo format."""
        if self.file_sep is None:
            parts = [f"{_comment_header(c.path)}\n{c.text.rstrip()}\n\n" for c in context]
            return "".join(parts)
        parts = []
        if self.repo_name is not None and (context or repo):
            parts.append(f"{self.repo_name}{repo or 'workspace'}\n")
        for c in context:
            parts.append(f"{self.file_sep}{c.path}\n{c.text.rstrip()}\n")
        if path is not None and (context or repo):
            parts.append(f"{self.file_sep}{path}\n")
        return "".join(parts)


def _comment_header(path: str) -> str:
    return f"# {path}"


TEMPLATES: dict[str, FimTemplate] = {
    t.name: t
    for t in (
        FimTemplate(
            name="qwen",
            prefix="<|fim_prefix|>", suffix="<|fim_suffix|>", middle="<|fim_middle|>",
            stop=("<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|repo_name|>",
                  "<|fim_prefix|>", "<|im_end|>"),
            repo_name="<|repo_name|>", file_sep="<|file_sep|>",
            signature=("<|fim_prefix|>", "<|fim_middle|>", "<|fim_pad|>"),
        ),
        FimTemplate(
            name="codegemma",
            prefix="<|fim_prefix|>", suffix="<|fim_suffix|>", middle="<|fim_middle|>",
            stop=("<|file_separator|>", "<eos>", "<|fim_prefix|>", "<end_of_turn>"),
            file_sep="<|file_separator|>",
            signature=("<|fim_prefix|>", "<|file_separator|>"),
        ),
        FimTemplate(
            name="starcoder",
            prefix="<fim_prefix>", suffix="<fim_suffix>", middle="<fim_middle>",
            stop=("<|endoftext|>", "<file_sep>", "<fim_prefix>", "<repo_name>"),
            repo_name="<repo_name>", file_sep="<file_sep>",
            signature=("<fim_prefix>", "<fim_middle>"),
        ),
        FimTemplate(
            name="deepseek",
            prefix="<｜fim▁begin｜>", suffix="<｜fim▁hole｜>", middle="<｜fim▁end｜>",
            stop=("<｜end▁of▁sentence｜>", "<｜fim▁begin｜>", "<|EOT|>"),
            signature=("<｜fim▁begin｜>", "<｜fim▁hole｜>"),
        ),
        FimTemplate(
            name="codellama",
            prefix="<PRE> ", suffix=" <SUF>", middle=" <MID>",
            stop=("<EOT>", "</s>", "<PRE>"),
            signature=("▁<PRE>", "▁<MID>"),
        ),
        FimTemplate(
            name="codestral",
            prefix="[PREFIX]", suffix="[SUFFIX]", middle="",
            stop=("</s>", "[PREFIX]", "[SUFFIX]"),
            psm=False,
            signature=("[SUFFIX]", "[PREFIX]"),
        ),
    )
}

# Detection order matters: codegemma shares Qwen's marker names.
_DETECT_ORDER = ("codegemma", "qwen", "starcoder", "deepseek", "codestral", "codellama")


class UnsupportedModel(ValueError):
    """The model has no fill-in-the-middle format we know."""


def detect_template(tokens: Iterable[str], *, architecture: str = "", name: str = "") -> FimTemplate:
    """Pick the FIM template from the model's vocabulary (and name as a fallback)."""
    vocab = set(tokens)
    for key in _DETECT_ORDER:
        tpl = TEMPLATES[key]
        if all(tok in vocab for tok in tpl.signature):
            return tpl
    # CodeLlama GGUFs store the FIM tokens with and without the SentencePiece space.
    if {"<PRE>", "<MID>"} <= vocab:
        return TEMPLATES["codellama"]
    lowered = f"{architecture} {name}".lower()
    for key in ("qwen", "starcoder", "deepseek", "codellama", "codestral", "codegemma"):
        if key in lowered:
            return TEMPLATES[key]
    raise UnsupportedModel(
        "the model has no fill-in-the-middle tokens Qwill knows "
        f"(families: {', '.join(sorted(TEMPLATES))}); use a code model such as Qwen2.5-Coder, "
        "or set completion.fimTemplate"
    )


def get_template(name: str) -> FimTemplate:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise UnsupportedModel(f"unknown FIM template '{name}'; known: {', '.join(TEMPLATES)}") from None


def find_template(name: str) -> FimTemplate | None:
    """The template called `name` (as ModelInfo.fim_template records it); None for a
    chat-only model ("") or a name Qwill does not know."""
    return TEMPLATES.get(name) if name else None
