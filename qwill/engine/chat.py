"""Chat prompts through the model's own chat template (GGUF `tokenizer.chat_template`).

Code actions and the agent talk to instruction-tuned models in the format they
were trained on. The template is the Jinja2 text shipped in the GGUF, rendered
in a sandbox the way Hugging Face and llama.cpp render it (`messages`, `tools`,
`add_generation_prompt`, `raise_exception`, `tojson`, `strftime_now`).
Rendering is pure and deterministic: the same messages and tools give the same
bytes, which keeps the KV cache valid from one agent step to the next.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

# ChatML, used when a model ships no template (Qwen's own format).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class ChatTemplateError(ValueError):
    """The model's chat template could not render these messages."""


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system", "user", "assistant", "tool"
    content: str
    # assistant tool calls in OpenAI shape: {"type": "function", "function": {"name", "arguments"}}
    tool_calls: tuple[dict[str, Any], ...] = ()
    name: str | None = None  # tool name for role "tool"
    tool_call_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            d["tool_calls"] = [dict(tc) for tc in self.tool_calls]
        if self.name is not None:
            d["name"] = self.name
        if self.tool_call_id is not None:
            d["tool_call_id"] = self.tool_call_id
        return d


@dataclass(frozen=True)
class ChatFormat:
    """A model's chat template plus the strings that end an assistant turn."""

    template: str = CHATML_TEMPLATE
    bos_token: str = ""
    eos_token: str = "<|im_end|>"
    stop: tuple[str, ...] = field(default=("<|im_end|>", "<|endoftext|>"))

    def render(
        self,
        messages: Sequence[ChatMessage | dict[str, Any]],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        add_generation_prompt: bool = True,
    ) -> str:
        msgs = [m.as_dict() if isinstance(m, ChatMessage) else dict(m) for m in messages]
        try:
            tpl = _compile(self.template)
            return tpl.render(
                messages=msgs,
                tools=list(tools) if tools else None,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except jinja2.TemplateError as exc:
            raise ChatTemplateError(f"the model's chat template failed: {exc}") from None


def _raise_exception(message: str) -> None:
    raise jinja2.TemplateError(message)


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False, **_: Any) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)


@lru_cache(maxsize=8)
def _compile(template: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        loader=jinja2.BaseLoader())
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    env.filters["tojson"] = _tojson
    try:
        return env.from_string(template)
    except jinja2.TemplateSyntaxError as exc:
        raise ChatTemplateError(f"the model's chat template does not parse: {exc}") from None


def chat_format_from_metadata(metadata: dict[str, Any], tokens: Sequence[str]) -> ChatFormat:
    """The chat format of a GGUF: its template and its end-of-turn strings."""
    template = metadata.get("tokenizer.chat_template")

    def token(key: str) -> str:
        idx = metadata.get(key)
        if isinstance(idx, int) and 0 <= idx < len(tokens):
            return tokens[idx]
        return ""

    bos = token("tokenizer.ggml.bos_token_id")
    eos = token("tokenizer.ggml.eos_token_id")
    stops = [s for s in (eos, "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>",
                         "</s>", "<|end|>") if s and s in set(tokens)]
    if not isinstance(template, str) or not template.strip():
        return ChatFormat(CHATML_TEMPLATE, bos, eos or "<|im_end|>",
                          tuple(dict.fromkeys(stops or ["<|im_end|>"])))
    return ChatFormat(template, bos, eos, tuple(dict.fromkeys(stops)))
