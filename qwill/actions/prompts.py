"""The chat messages each action sends, rendered later by the model's own template.

Prompts are short and ask for one answer shape (a fenced code block, or plain
words for documentation): small local models follow simple instructions far
better than elaborate ones, and the parser then has one thing to look for.
"""

from __future__ import annotations

from ..engine.chat import ChatMessage

SYSTEM = ("You are Qwill, a coding assistant inside the user's editor. "
          "Answer exactly in the form asked for, without chatter.")

_DISPLAY = {
    "python": "Python", "javascript": "JavaScript", "typescript": "TypeScript", "tsx": "TypeScript (TSX)",
    "go": "Go", "rust": "Rust", "java": "Java", "c": "C", "cpp": "C++", "c_sharp": "C#", "ruby": "Ruby",
    "php": "PHP", "bash": "shell", "lua": "Lua",
}
_FENCE = {"c_sharp": "csharp", "bash": "sh", "tsx": "tsx"}


def display_name(language: str) -> str:
    return _DISPLAY.get(language, language or "source")


def fence(language: str) -> str:
    return _FENCE.get(language, language)


def _code(language: str, code: str) -> str:
    body = code if code.endswith("\n") else code + "\n"
    return f"```{fence(language)}\n{body}```"


def _messages(user: str) -> list[ChatMessage]:
    return [ChatMessage("system", SYSTEM), ChatMessage("user", user)]


def fix(language: str, code: str, problems: list[tuple[str, str]], context: str = "") -> list[ChatMessage]:
    """`problems`: (message, the source line it is reported on)."""
    listed = "\n".join(f"- {msg}" + (f" (on the line `{line.strip()}`)" if line.strip() else "")
                       for msg, line in problems)
    ctx = f"For reference, the file starts with:\n{_code(language, context)}\n\n" if context else ""
    return _messages(
        f"{ctx}Fix the following problem{'s' if len(problems) > 1 else ''} in this "
        f"{display_name(language)} code:\n{listed}\n\n{_code(language, code)}\n\n"
        f"Answer with the corrected code in one ```{fence(language)} code block: all of the code "
        "above, with the problem fixed and nothing else changed.")


def fix_lines(language: str, code: str, lines: str, problems: list[tuple[str, str]],
              context: str = "") -> list[ChatMessage]:
    """The fix as small models can give it: `code` for understanding, and only `lines` (the
    problem's lines, verbatim) asked back, corrected."""
    listed = "\n".join(f"- {msg}" for msg, _ in problems)
    ctx = f"The file starts with:\n{_code(language, context)}\n\n" if context else ""
    one = lines.strip("\n").count("\n") == 0
    what = "line" if one else "lines"
    return _messages(
        f"{ctx}This {display_name(language)} code has "
        f"{'a problem' if len(problems) == 1 else 'problems'}:\n{listed}\n\n{_code(language, code)}\n\n"
        f"The problem is on the {what}:\n{_code(language, lines)}\n\n"
        f"Answer with the corrected {what} only, in one ```{fence(language)} code block. "
        f"Change only what the problem needs.")


def fix_span(language: str, line: str, span: str, problem: str, context: str = "") -> list[ChatMessage]:
    """The narrowest fix: what should replace `span` in `line`."""
    ctx = f"The file starts with:\n{_code(language, context)}\n\n" if context else ""
    return _messages(
        f"{ctx}In this {display_name(language)} line:\n{_code(language, line)}\n\n"
        f"`{span}` is wrong: {problem}\n\n"
        f"Answer with only the text that should replace `{span}`, in one ```{fence(language)} code block.")


def rewrite(language: str, code: str, instruction: str) -> list[ChatMessage]:
    return _messages(
        f"Rewrite this {display_name(language)} code.\n\nInstruction: {instruction}\n\n"
        f"{_code(language, code)}\n\n"
        f"Answer with the rewritten code in one ```{fence(language)} code block and nothing else.")


def explain(language: str, code: str, what: str) -> list[ChatMessage]:
    return _messages(
        f"Explain {what} in this {display_name(language)} code: what it does, how it works, "
        "and anything surprising. Be brief and concrete; use Markdown.\n\n"
        f"{_code(language, code)}")


def document(language: str, code: str, kind: str, name: str, noun: str) -> list[ChatMessage]:
    lead = (f" Start with the name `{name}`, as Go doc comments do." if language == "go" else "")
    params = " its parameters and what it returns," if kind in ("function", "method") else ""
    return _messages(
        f"Write the {noun} for the {kind} `{name}` in this {display_name(language)} code.\n\n"
        f"{_code(language, code)}\n\n"
        f"Say in one short sentence what it does{', starting with a verb' if not lead else ''}, "
        f"then briefly describe{params} and anything a caller must know.{lead} "
        "Answer with the text only: no code, no quotes, no comment markers.")


def tests(language: str, code: str, kind: str, name: str, framework: str, import_line: str,
          note: str, existing: str = "") -> list[ChatMessage]:
    imp = f" Import it with `{import_line}`." if import_line else ""
    has = (f"\n\nThe test file already contains:\n{_code(language, existing)}\n"
           "Write only new tests that fit after it." if existing else "")
    return _messages(
        f"Write unit tests for the {kind} `{name}` below, using {framework}.{imp} {note}\n\n"
        f"{_code(language, code)}{has}\n\n"
        "Cover normal use and edge cases. Do not repeat the code under test. "
        f"Answer with the test code in one ```{fence(language)} code block.")
