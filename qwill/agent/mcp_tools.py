"""Tools of MCP servers for the agent, through the official `mcp` SDK.

Servers are configured as users know them from other clients,
`{"name": {"command", "args", "env"}}` (stdio) or `{"name": {"url", "headers"}}`
(streamable HTTP), in settings or, under ACP, by the client's `session/new`.
Each server is one connection owned by one asyncio task (the SDK's transports
are context managers that must open and close in the same task); tool calls are
queued to it. Each tool becomes an agent tool named `server__tool` whose schema
is the server's own.

A server that fails to start, crashes or hangs costs its own tools only: start
and call are bounded by timeouts, and the failure is reported (an event, the
tool's result), never raised into the run. Every call passes the same approval
as a shell command: asked about unless the user's settings allow the server or
the tool (`agent.mcpAllow`: `"server"` or `"server/tool"`), allowed without asking
in `yolo`, refused in `plan` unless the server marks the tool read-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .modes import effective_verdict
from .shell import Verdict
from .tools import Tool, ToolContext, ToolError

log = logging.getLogger(__name__)

START_TIMEOUT = 30.0
CALL_TIMEOUT = 60.0
MAX_RESULT_CHARS = 8_000
_NAME = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class McpServerConfig:
    name: str
    command: str = ""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    url: str = ""
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"


def parse_servers(raw: Mapping[str, Any] | None) -> tuple[list[McpServerConfig], list[str]]:
    """Server configs from the settings shape; problems for entries that are unusable."""
    out: list[McpServerConfig] = []
    problems: list[str] = []
    for name, spec in (raw or {}).items():
        if not isinstance(spec, Mapping):
            problems.append(f"MCP server {name!r}: expected an object with `command` or `url`")
            continue
        if hasattr(spec, "model_dump"):
            spec = spec.model_dump()
        command, url = spec.get("command"), spec.get("url")
        if bool(command) == bool(url):
            problems.append(f"MCP server {name!r}: give either `command` (stdio) or `url` (HTTP), not "
                            f"{'both' if command else 'neither'}")
            continue
        if url and not re.match(r"^https?://", str(url)):
            problems.append(f"MCP server {name!r}: url must start with http:// or https://")
            continue
        args = spec.get("args") or []
        env = spec.get("env") or {}
        headers = spec.get("headers") or {}
        if not (isinstance(args, list) and all(isinstance(a, str) for a in args)
                and isinstance(env, Mapping) and isinstance(headers, Mapping)):
            problems.append(f"MCP server {name!r}: args must be a list of strings, env and headers objects")
            continue
        out.append(McpServerConfig(str(name), str(command or ""), tuple(args),
                                   tuple((str(k), str(v)) for k, v in env.items()), str(url or ""),
                                   tuple((str(k), str(v)) for k, v in headers.items())))
    return out, problems


@dataclass
class McpTool:
    server: str
    name: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool = False

    @property
    def agent_name(self) -> str:
        return _agent_name(self.server, self.name)


def _agent_name(server: str, tool: str) -> str:
    return (_NAME.sub("_", server) + "__" + _NAME.sub("_", tool))[:64]


class McpError(RuntimeError):
    """A server that cannot be used; the message says which and why."""


@dataclass
class _Job:
    tool: str
    arguments: dict[str, Any]
    future: asyncio.Future[Any]


class McpConnection:
    """One MCP server: started by `start`, called with `call`, ended by `close`."""

    def __init__(self, config: McpServerConfig, *, cwd: Path | None = None,
                 start_timeout: float = START_TIMEOUT, call_timeout: float = CALL_TIMEOUT) -> None:
        self.config = config
        self.cwd = cwd
        self.start_timeout = start_timeout
        self.call_timeout = call_timeout
        self.tools: list[McpTool] = []
        self.problem = ""  # why the server is not usable (empty while it is)
        self._jobs: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")

    def _stderr_tail(self, limit: int = 600) -> str:
        try:
            self._stderr.flush()
            self._stderr.seek(0)
            text = self._stderr.read()
        except (OSError, ValueError):
            return ""
        text = text.strip()
        return ("; its last output: " + text[-limit:]) if text else ""

    async def start(self) -> list[McpTool]:
        ready: asyncio.Future[list[McpTool]] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._serve(ready), name=f"mcp-{self.config.name}")
        try:
            self.tools = await asyncio.wait_for(asyncio.shield(ready), self.start_timeout)
        except TimeoutError:
            self.problem = f"MCP server {self.config.name!r} did not answer within {self.start_timeout:g} s"
            await self.close()
            raise McpError(self.problem + self._stderr_tail()) from None
        except McpError:
            await self.close()
            raise
        return self.tools

    async def _serve(self, ready: asyncio.Future[list[McpTool]]) -> None:
        from mcp import ClientSession
        from mcp.shared.exceptions import MCPError
        from mcp.types import CONNECTION_CLOSED

        c = self.config
        try:
            async with contextlib.AsyncExitStack() as stack:
                if c.command:
                    from mcp.client.stdio import StdioServerParameters, stdio_client

                    params = StdioServerParameters(command=c.command, args=list(c.args), env=dict(c.env) or None,
                                                   cwd=str(self.cwd) if self.cwd else None)
                    streams = await stack.enter_async_context(stdio_client(params, errlog=self._stderr))
                else:
                    from mcp.client.streamable_http import streamable_http_client
                    from mcp.shared._httpx_utils import create_mcp_http_client

                    client = await stack.enter_async_context(create_mcp_http_client(headers=dict(c.headers)))
                    streams = await stack.enter_async_context(streamable_http_client(c.url, http_client=client))
                read, write = streams[0], streams[1]
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                tools = await self._list(session)
                if not ready.done():
                    ready.set_result(tools)
                while (job := await self._jobs.get()) is not None:
                    if job.future.done():  # the caller gave up (timeout, cancel)
                        continue
                    try:
                        res = await asyncio.wait_for(session.call_tool(job.tool, job.arguments), self.call_timeout)
                    except Exception as exc:
                        if not job.future.done():
                            job.future.set_exception(exc)
                        # an error answer or a slow call costs that call; a broken connection, the server
                        if isinstance(exc, TimeoutError) or (
                                isinstance(exc, MCPError) and exc.code != CONNECTION_CLOSED):
                            continue
                        raise
                    if not job.future.done():
                        job.future.set_result(res)
        except BaseException as exc:  # the server failed or went away: its tools fail, nothing else
            message = _describe(exc)
            self.problem = self.problem or f"MCP server {c.name!r} stopped: {message}"
            if not ready.done():
                ready.set_exception(McpError(f"MCP server {c.name!r} could not start: {message}"
                                             f"{self._stderr_tail()}"))
            self._fail_pending()
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            if not self.problem:
                self.problem = f"MCP server {c.name!r} was closed"
            self._fail_pending()

    def _fail_pending(self) -> None:
        while not self._jobs.empty():
            job = self._jobs.get_nowait()
            if job is not None and not job.future.done():
                job.future.set_exception(McpError(self.problem or "the server stopped"))

    async def _list(self, session: Any) -> list[McpTool]:
        tools: list[McpTool] = []
        cursor = None
        for _ in range(50):  # pages
            from mcp.types import PaginatedRequestParams

            listed = await session.list_tools(params=PaginatedRequestParams(cursor=cursor) if cursor else None)
            for t in listed.tools:
                schema = dict(t.input_schema or {})
                schema.setdefault("type", "object")
                schema.setdefault("properties", {})
                read_only = bool(t.annotations and t.annotations.read_only_hint)
                tools.append(McpTool(self.config.name, t.name, (t.description or "").strip(), schema, read_only))
            cursor = listed.next_cursor
            if not cursor:
                break
        return tools

    async def call(self, tool: str, arguments: dict[str, Any]) -> str:
        """The tool's result as text for the model; McpError when the server failed,
        ToolError when the tool reported an error."""
        if self._task is None or self._task.done():
            raise McpError(self.problem or f"MCP server {self.config.name!r} is not running")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._jobs.put(_Job(tool, arguments, fut))
        try:
            res = await asyncio.wait_for(asyncio.shield(fut), self.call_timeout + 5)
        except TimeoutError:
            fut.cancel()
            raise McpError(f"MCP server {self.config.name!r} did not answer {tool} within "
                           f"{self.call_timeout:g} s") from None
        except McpError:
            raise
        except Exception as exc:
            if self._task.done() or getattr(exc, "code", None) == -32000:  # CONNECTION_CLOSED
                await asyncio.sleep(0.2)  # let the process's last words reach its log
                raise McpError(f"MCP server {self.config.name!r} stopped during {tool}: {_describe(exc)}"
                               f"{self._stderr_tail()}") from None
            raise ToolError(f"{self.config.name}: {tool} failed: {_describe(exc)}") from None
        text = render_result(res)
        if getattr(res, "is_error", False):
            raise ToolError(f"{self.config.name}: {tool}: {text}")
        return text

    async def close(self) -> None:
        task = self._task
        if task is not None and not task.done():
            await self._jobs.put(None)
            try:
                await asyncio.wait_for(asyncio.shield(task), 5)
            except (TimeoutError, Exception):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(task, 5)
        with contextlib.suppress(OSError):
            self._stderr.close()


def _describe(exc: BaseException) -> str:
    # anyio and the SDK wrap failures in exception groups; the first leaf says what happened
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip() or type(exc).__name__
    return text[:300]


def render_result(res: Any) -> str:
    parts: list[str] = []
    for block in getattr(res, "content", None) or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource":
            inner = getattr(block, "resource", None)
            parts.append(getattr(inner, "text", None) or f"[resource {getattr(inner, 'uri', '')}]")
        elif kind == "resource_link":
            parts.append(f"[resource {getattr(block, 'uri', '')}]")
        else:
            parts.append(f"[{kind or 'content'} omitted]")
    structured = getattr(res, "structured_content", None)
    if not parts and structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False, indent=1))
    text = "\n".join(parts).strip() or "(no output)"
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + f"\n[... {len(text) - MAX_RESULT_CHARS} more characters cut]"
    return text


def allowed(patterns: Iterable[str], server: str, tool: str) -> bool:
    """`agent.mcpAllow` entries: a server name (all its tools) or `server/tool`."""
    for p in patterns:
        p = p.strip()
        if p == server or p == f"{server}/{tool}" or p == _agent_name(server, tool):
            return True
    return False


@dataclass
class McpHub:
    """The MCP servers of an agent run (or an editor session): their tools as agent tools."""

    configs: Sequence[McpServerConfig]
    allow: Sequence[str] = ()
    cwd: Path | None = None
    start_timeout: float = START_TIMEOUT
    call_timeout: float = CALL_TIMEOUT
    on_problem: Callable[[str], None] | None = None
    connections: dict[str, McpConnection] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    async def start(self) -> list[str]:
        """Start every server (concurrently); the problems of those that could not start."""
        async def one(cfg: McpServerConfig) -> None:
            conn = McpConnection(cfg, cwd=self.cwd, start_timeout=self.start_timeout,
                                 call_timeout=self.call_timeout)
            try:
                await conn.start()
            except McpError as exc:
                self._problem(str(exc))
                return
            except Exception as exc:  # an SDK failure must not stop the others
                self._problem(f"MCP server {cfg.name!r} could not start: {_describe(exc)}")
                return
            self.connections[cfg.name] = conn

        await asyncio.gather(*(one(c) for c in self.configs))
        return list(self.problems)

    def _problem(self, message: str) -> None:
        log.warning("%s", message)
        self.problems.append(message)
        if self.on_problem is not None:
            try:
                self.on_problem(message)
            except Exception:  # pragma: no cover - a client's display must not break the hub
                log.exception("MCP problem sink failed")

    def tools(self) -> list[Tool]:
        out: list[Tool] = []
        seen: set[str] = set()
        for server in sorted(self.connections):
            for t in self.connections[server].tools:
                if t.agent_name in seen:
                    continue
                seen.add(t.agent_name)
                out.append(self._tool(t))
        return out

    def _tool(self, t: McpTool) -> Tool:
        hub = self

        async def run(ctx: ToolContext, **arguments: Any) -> str:
            verdict = Verdict.ALLOW if allowed(hub.allow, t.server, t.name) else Verdict.ASK
            verdict = effective_verdict(verdict, ctx.mode)
            if verdict is Verdict.ASK:
                what = f"{t.server}: {t.name} {json.dumps(arguments, ensure_ascii=False)[:300]}"
                why = f"a tool of the MCP server {t.server!r} (allow it with agent.mcpAllow)"
                if ctx.approve_command is None:
                    raise ToolError(f"{t.agent_name} needs the user's approval and nobody can give it ({why})")
                if not await ctx.approve_command(what, why):
                    raise ToolError("the user declined this tool call")
            conn = hub.connections.get(t.server)
            if conn is None:
                raise ToolError(f"MCP server {t.server!r} is not running")
            try:
                return await conn.call(t.name, arguments)
            except McpError as exc:
                hub._problem(str(exc))
                raise ToolError(f"{exc} (its other tools may fail too; use other tools)") from None

        description = f"[MCP {t.server}] {t.description}".strip()[:1000]
        return Tool(t.agent_name, description, t.input_schema, run, read_only=t.read_only)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.connections.values()), return_exceptions=True)
        self.connections.clear()
