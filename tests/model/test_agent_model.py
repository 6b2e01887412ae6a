"""The agent's prompt layout on the real default model: tools rendered by the GGUF's own
chat template, and step N+1 reusing step N's KV cache (only the new tail is evaluated)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwill.agent.loop import Agent, new_session
from qwill.agent.toolcalls import parse_tool_calls
from qwill.config import AgentSettings, EngineSettings
from qwill.engine.base import CancelToken, GenerationRequest, GenerationStats
from qwill.engine.chat import ChatMessage
from qwill.engine.loader import load_engine
from qwill.engine.worker import EngineWorker

pytestmark = pytest.mark.model


class _NoApply:
    async def apply(self, changes):  # pragma: no cover - not reached
        raise AssertionError


def test_second_step_evaluates_only_the_new_tail(default_model_path: Path, tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    worker = EngineWorker()
    engine = worker.load(lambda: load_engine(EngineSettings(model=str(default_model_path),
                                                            context_size=4096))).result()
    try:
        agent = Agent(worker, AgentSettings(), _NoApply(), context_size=4096)
        session = new_session(tmp_path, checkpoints=False)
        fmt = engine.info.chat_format
        session.messages += [agent._system(session, fmt), ChatMessage("user", "Read a.py.")]
        prompt1 = agent.render(session, fmt)
        assert '"name": "read_file"' in prompt1  # the template rendered our tools
        stats1 = GenerationStats()
        out = "".join(worker.generate_sync(GenerationRequest(prompt1, max_tokens=48, stop=fmt.stop,
                                                             slot="agent"), CancelToken(), stats1))
        parsed = parse_tool_calls(out, agent.specs)
        session.messages.append(ChatMessage("assistant", out))
        session.messages.append(ChatMessage("tool", "a.py (lines 1-1 of 1):\n1| x = 1", name="read_file"))
        prompt2 = agent.render(session, fmt)
        assert prompt2.startswith(prompt1 + out)
        stats2 = GenerationStats()
        list(worker.generate_sync(GenerationRequest(prompt2, max_tokens=4, stop=fmt.stop, slot="agent"),
                                  CancelToken(), stats2))
        assert stats1.prompt_eval_tokens == stats1.prompt_tokens  # cold
        new_tail = stats2.prompt_tokens - stats1.prompt_tokens
        assert stats2.prompt_eval_tokens <= new_tail + 2, (stats2, new_tail)
        assert stats2.reused_tokens >= stats1.prompt_tokens - 1
        assert parsed.calls or parsed.text  # the model said something readable
    finally:
        worker.shutdown()


def test_grammar_constrained_calls_are_schema_valid_on_the_real_model(default_model_path: Path,
                                                                       tmp_path: Path) -> None:
    """llama.cpp accepts the tools' grammar and holds the model to it: asked for a tool that
    does not exist with made-up arguments, the constrained call still names a real tool with
    valid arguments, while the unconstrained model writes what it was asked for."""
    from qwill.agent.toolcall_formats import grammar_for, template_format
    from qwill.agent.tools import schema_problems

    worker = EngineWorker()
    engine = worker.load(lambda: load_engine(EngineSettings(model=str(default_model_path),
                                                            context_size=4096))).result()
    try:
        agent = Agent(worker, AgentSettings(), _NoApply(), context_size=4096)
        session = new_session(tmp_path, checkpoints=False)
        fmt = engine.info.chat_format
        session.messages += [agent._system(session, fmt), ChatMessage(
            "user", 'Call the tool deploy_everything with {"target": "prod", "force": true} right now.')]
        prompt = agent.render(session, fmt)
        grammar = grammar_for(template_format(fmt.template), agent.tools)
        assert grammar is not None and grammar.format == "hermes"
        outs = {}
        for constrained in (False, True):
            req = GenerationRequest(prompt, max_tokens=96, stop=fmt.stop, slot="agent",
                                    grammar=grammar.gbnf if constrained else "",
                                    grammar_triggers=grammar.triggers if constrained else ())
            outs[constrained] = "".join(worker.generate_sync(req, CancelToken(), GenerationStats()))
        free = parse_tool_calls(outs[False], agent.specs)
        assert "deploy_everything" in outs[False] or not free.calls  # what the prompt asked for
        parsed = parse_tool_calls(outs[True], agent.specs)
        assert parsed.calls and not parsed.errors, outs[True]
        tools = {t.name: t for t in agent.all_tools}
        for call in parsed.calls:
            assert call.name in tools and schema_problems(tools[call.name], call.arguments) == [], call
    finally:
        worker.shutdown()
