"""Session as the composition root: every surface's long-lived objects live in it."""

from __future__ import annotations

from pathlib import Path

from qwill.agent.changes import ChangeSet
from qwill.agent.loop import ApplyResult, agent_context_size
from qwill.config import parse_settings
from qwill.engine.fake import FakeEngine
from qwill.session import ModelState, Session


class Accept:
    async def apply(self, changes: ChangeSet) -> ApplyResult:
        return ApplyResult(True)


async def test_agent_runs_keep_sessions_and_build_each_agent_from_the_current_settings(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    engine = FakeEngine(["All done."])
    session = Session(parse_settings({"agent": {"maxSteps": 3}}).settings,
                      engine_factory=lambda settings, progress: engine)
    try:
        assert (await session.load_model()).state is ModelState.READY
        runs = session.agent_runs
        conversation = runs.new_session(tmp_path, session.documents)
        assert runs.get(conversation.id) is conversation and runs.get("nope") is None
        result = await runs.run(conversation, "say done", Accept())
        assert result.reason == "done" and result.message == "All done."
        assert not runs.cancel(conversation.id)  # nothing runs any more
        session.update_settings({"engine": {"contextSize": 2048}, "agent": {"maxSteps": 5}})
        agent = runs.agent(Accept())
        assert agent.settings.max_steps == 5 and agent.context_size == agent_context_size(session.settings) == 2048
        assert agent.worker is session.agent_worker
        assert agent.symbol_index is None  # no workspace indexed
        session.context.index_roots([tmp_path])
        assert runs.agent(Accept()).symbol_index is session.context.index
    finally:
        session.close()


async def test_code_actions_follow_the_settings(tmp_path: Path) -> None:
    session = Session(engine_factory=lambda settings, progress: FakeEngine())
    try:
        session.update_settings({"actions": {"maxTokens": 77, "temperature": 0.5}})
        assert (session.actions.options.max_tokens, session.actions.options.temperature) == (77, 0.5)
        assert session.actions.documents is session.documents
    finally:
        session.close()


async def test_a_model_without_fim_loads_with_completion_off() -> None:
    session = Session(engine_factory=lambda settings, progress: FakeEngine(fim_template=""))
    try:
        status = await session.load_model()
        assert status.state is ModelState.READY and "completion is off" in status.message
        assert not session.completion.ready
    finally:
        session.close()


def counting_factories(loads: list[str]):
    """`factory(name)`: an engine factory that makes a FakeEngine and records `name` in `loads`
    each time it is called, to tell which engines a session loaded."""
    def factory(name: str):
        def make(settings, progress):
            loads.append(name)
            return FakeEngine()
        return make
    return factory


async def test_a_settings_change_reloads_only_the_engines_whose_settings_changed() -> None:
    loads: list[str] = []
    factory = counting_factories(loads)
    session = Session(engine_factory=factory("completion"), agent_engine_factory=factory("agent"))
    try:
        await session.load_model()
        assert loads == ["completion"] and session.agent_engine is session.engine
        # a separate agent engine: loaded, the completion model stays as it is
        session.update_settings({"agentEngine": {"backend": "local", "model": "other.gguf"}})
        await session.load_model(changed_only=True)
        assert loads == ["completion", "agent"] and session.agent_engine is not session.engine
        session.update_settings({"agentEngine": {"contextSize": 2048}})
        await session.load_model(changed_only=True)
        assert loads == ["completion", "agent", "agent"]
        assert session.agent_status.state is ModelState.READY
        # back to one engine: the agent follows the completion engine, nothing to load
        session.update_settings({"agentEngine": {"backend": "same"}})
        await session.load_model(changed_only=True)
        assert loads == ["completion", "agent", "agent"] and session.agent_engine is session.engine
        # the shared engine's settings changed: reloaded once, for both
        session.update_settings({"engine": {"contextSize": 1024}})
        await session.load_model(changed_only=True)
        assert loads == ["completion", "agent", "agent", "completion"]
        assert session.agent_worker is session.worker
        # a full load (a restart) loads again what is configured
        await session.load_model()
        assert loads[-1] == "completion"
    finally:
        session.close()
