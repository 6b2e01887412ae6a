"""Next-edit prompt formats: how a model is shown the recent edits and the region, and
how its answer is read back into the region's new text.

- `instruct`: general instruct coder models (Qwen2.5/Qwen3-Coder instruct), through the
  model's own chat template: the region is shown as "before" and the model writes it
  "after" in one fenced block (the assistant turn is opened with the fence, so the model
  starts with code). The system message (the instructions) never changes and comes
  first, then the code above the region, the edits, the region last: consecutive
  requests share the longest prefix the KV cache can keep.
- `sweep`: Sweep's next-edit models (Qwen2.5-Coder based): raw `<|file_sep|>` blocks,
  the recent edits as `{path}.diff` with `original:`/`updated:`, then the window as
  `original/{path}` (before the latest edit) and `current/{path}`, and the model writes
  `updated/{path}`.
- `zeta`: Zed's Zeta: an Alpaca-style instruction with `### User Edits:` (unified diff
  hunks per file) and `### User Excerpt:` where the region sits between
  `<|editable_region_start|>` and `<|editable_region_end|>` with
  `<|user_cursor_is_here|>`; the model rewrites the region between the same markers.

Model output is hostile input: a parse that does not find a well-formed region raises
`FormatError` (the prediction is dropped with that reason), never guesses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from ..engine.chat import ChatFormat, ChatMessage

FormatName = Literal["instruct", "sweep", "zeta"]
FORMAT_NAMES: tuple[FormatName, ...] = ("instruct", "sweep", "zeta")


class FormatError(ValueError):
    """The model's answer is not a region in the format's shape."""


@dataclass(frozen=True)
class EditDiff:
    """One recent edit group, as the prompt shows it."""

    path: str
    diff: str  # unified diff hunks with their `@@` headers (no file header)
    before: str  # the changed lines before the edit
    after: str  # the same lines after it


@dataclass(frozen=True)
class PromptInputs:
    path: str  # as shown in the prompt (relative to the workspace when inside one)
    language: str  # the fence's language tag ("python"), may be empty
    edits: Sequence[EditDiff]  # oldest first
    region: str  # the editable region's current text (whole lines)
    cursor: int  # offset of the cursor inside `region`
    original_region: str  # the region's text before the latest edit group (Sweep)
    above: str = ""  # context lines just above the region
    below: str = ""  # context lines just below it
    at_file_start: bool = False  # the region or `above` begins at the file's first line


@dataclass(frozen=True)
class RenderedPrompt:
    prompt: str
    stop: tuple[str, ...] = ()
    # text the answer is parsed after (an opened fence the prompt already wrote)
    prefill: str = ""


class NextEditFormat(Protocol):
    @property
    def name(self) -> FormatName: ...

    def render(self, inputs: PromptInputs, chat: ChatFormat) -> RenderedPrompt: ...

    def parse(self, answer: str, inputs: PromptInputs) -> str:
        """The region's new text from the model's answer (FormatError when malformed)."""
        ...


# -- instruct -------------------------------------------------------------------------

INSTRUCT_SYSTEM = """\
You predict a programmer's next edit. You are shown the edits they just made, as unified \
diffs, and an editable region of the file they are in. Rewrite the region with the edit \
they will make next, so that it completes or continues their recent change: the other \
uses of a name they renamed, the other call sites of a parameter they added, the matching \
change a few lines down. Change nothing else: keep every other line, its indentation and \
its comments exactly as they are, and never undo their edits. If no further edit follows \
from their change, write the region unchanged. Answer with the whole region, rewritten, \
in one fenced code block and nothing else."""

_FENCE_END = re.compile(r"^```[ \t]*$", re.M)


@dataclass(frozen=True)
class InstructFormat:
    name: FormatName = "instruct"

    def render(self, inputs: PromptInputs, chat: ChatFormat) -> RenderedPrompt:
        fence = _fence_for(inputs)
        lang = inputs.language
        parts = []
        if inputs.above:
            parts.append(f"File {inputs.path}, the lines above the region:\n{fence}{lang}\n{_nl(inputs.above)}{fence}")
        if inputs.edits:
            diffs = "\n".join(f"--- a/{e.path}\n+++ b/{e.path}\n{_nl(e.diff)}" for e in inputs.edits)
            parts.append(f"The edits they just made, oldest first:\n{fence}diff\n{diffs}{fence}")
        if inputs.below:
            parts.append(f"The lines below the region (do not repeat them):\n{fence}{lang}\n{_nl(inputs.below)}{fence}")
        parts.append(f"The editable region of {inputs.path}, before:\n{fence}{lang}\n{_nl(inputs.region)}{fence}\n\n"
                     "Write the region after their next edit.")
        messages = [ChatMessage("system", INSTRUCT_SYSTEM), ChatMessage("user", "\n\n".join(parts))]
        prefill = f"{fence}{lang}\n"
        prompt = chat.render(messages, add_generation_prompt=True) + prefill
        return RenderedPrompt(prompt, stop=(*chat.stop, f"\n{fence}"), prefill=prefill)

    def parse(self, answer: str, inputs: PromptInputs) -> str:
        text = answer
        m = _FENCE_END.search(text)
        if m is not None:
            if text[m.end():].strip():
                raise FormatError("the answer has text after its code block")
            text = text[:m.start()]
        elif "```" in text:
            raise FormatError("the answer's code block is malformed")
        return _like_region(text, inputs.region)


def _fence_for(inputs: PromptInputs) -> str:
    """A fence longer than any backtick run in the code shown (Markdown's own rule)."""
    longest = max((len(m) for m in re.findall(r"`+", inputs.region + inputs.above + inputs.below)), default=0)
    return "`" * max(3, longest + 1)


# -- sweep ----------------------------------------------------------------------------

FILE_SEP = "<|file_sep|>"


@dataclass(frozen=True)
class SweepFormat:
    name: FormatName = "sweep"

    def render(self, inputs: PromptInputs, chat: ChatFormat) -> RenderedPrompt:
        parts = []
        for e in inputs.edits:
            parts.append(f"{FILE_SEP}{e.path}.diff\noriginal:\n{_nl(e.before)}updated:\n{_nl(e.after)}")
        parts.append(f"{FILE_SEP}original/{inputs.path}\n{_nl(inputs.original_region)}")
        parts.append(f"{FILE_SEP}current/{inputs.path}\n{_nl(inputs.region)}")
        parts.append(f"{FILE_SEP}updated/{inputs.path}\n")
        return RenderedPrompt("".join(parts), stop=(FILE_SEP, "<|endoftext|>", "<|im_end|>"))

    def parse(self, answer: str, inputs: PromptInputs) -> str:
        if "<|" in answer and re.search(r"<\|[a-z_]+\|>", answer):
            raise FormatError("the answer contains a control token")
        return _like_region(answer, inputs.region)


# -- zeta -----------------------------------------------------------------------------

ZETA_INSTRUCTION = (
    "### Instruction:\n"
    "You are a code completion assistant and your task is to analyze user edits and then rewrite an "
    "excerpt that the user provides, suggesting the appropriate edits within the excerpt, taking into "
    "account the cursor location.\n\n"
)
CURSOR_MARKER = "<|user_cursor_is_here|>"
START_OF_FILE = "<|start_of_file|>"
REGION_START = "<|editable_region_start|>"
REGION_END = "<|editable_region_end|>"


@dataclass(frozen=True)
class ZetaFormat:
    name: FormatName = "zeta"

    def render(self, inputs: PromptInputs, chat: ChatFormat) -> RenderedPrompt:
        events = "\n\n".join(f"User edited \"{e.path}\":\n```diff\n{_nl(e.diff)}```" for e in inputs.edits)
        region = inputs.region[:inputs.cursor] + CURSOR_MARKER + inputs.region[inputs.cursor:]
        excerpt = (f"```{inputs.path}\n" + (f"{START_OF_FILE}\n" if inputs.at_file_start else "")
                   + inputs.above + f"{REGION_START}\n" + _nl(region) + f"{REGION_END}\n" + inputs.below + "```")
        prompt = f"{ZETA_INSTRUCTION}### User Edits:\n\n{events}\n\n### User Excerpt:\n\n{excerpt}\n\n### Response:\n"
        return RenderedPrompt(prompt, stop=(REGION_END, "<|endoftext|>", "<|im_end|>"))

    def parse(self, answer: str, inputs: PromptInputs) -> str:
        i = answer.find(REGION_START)
        if i < 0:
            raise FormatError("the answer has no editable region")
        text = answer[i + len(REGION_START):]
        text = text.removeprefix("\n")
        j = text.find(REGION_END)
        if j >= 0:
            text = text[:j]
        text = text.replace(CURSOR_MARKER, "")
        if re.search(r"<\|[a-z_]+\|>", text):
            raise FormatError("the answer contains a control token")
        return _like_region(text, inputs.region)


# -- shared ---------------------------------------------------------------------------

FORMATS: dict[FormatName, NextEditFormat] = {
    "instruct": InstructFormat(),
    "sweep": SweepFormat(),
    "zeta": ZetaFormat(),
}


def detect_format(names: Sequence[str]) -> FormatName:
    """The format a model was trained on, from its metadata names and file name."""
    joined = " ".join(n.lower() for n in names if n)
    if "sweep" in joined and re.search(r"next[-_ ]?edit", joined):
        return "sweep"
    if re.search(r"\bzeta\b|zed-industries|zeta[-_]", joined):
        return "zeta"
    return "instruct"


def choose_format(setting: str, names: Sequence[str]) -> NextEditFormat:
    """`nextEdit.promptFormat` (`auto` detects it from the model's names)."""
    if setting in FORMATS:
        return FORMATS[setting]
    return FORMATS[detect_format(names)]


def _nl(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def _like_region(text: str, region: str) -> str:
    """The answer with the region's final-newline convention (models add or drop one)."""
    if region.endswith("\n") and not text.endswith("\n") and text:
        return text + "\n"
    if not region.endswith("\n") and text.endswith("\n"):
        return text[:-1]
    return text
