"""Qwill's settings: one typed schema for every surface.

The same model is read from LSP `initializationOptions`, from
`workspace/didChangeConfiguration`, from the CLI, and is exported as JSON schema
for the editor clients. Keys are camelCase on the wire, snake_case in Python.
A value of the wrong type never stops the server: it is reported and replaced by
its default, and unknown keys are reported too.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.alias_generators import to_camel


class _Section(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        validate_assignment=True,
        strict=False,
    )


RemoteBackend = Literal["openai", "llama-server", "ollama"]


class EngineSettings(_Section):
    backend: Literal["local", "openai", "llama-server", "ollama"] = Field(
        "local",
        description=(
            "Where the model runs: `local` (in-process llama.cpp), or a server: `openai` "
            "(any OpenAI-compatible `/v1`: vLLM, SGLang, llama.cpp, LM Studio), `llama-server` "
            "(llama.cpp's native `/completion`, `/infill`), `ollama`."
        ),
    )
    model: str = Field(
        "default",
        description=(
            "Model to run: `default`, `default-1.5b`, a path to a .gguf file, "
            "`hf:owner/repo:QUANT` or `hf:owner/repo/file.gguf`. With a remote backend: the "
            "model name the server serves (`default`: the first it lists)."
        ),
    )
    n_threads: int = Field(
        0, ge=0, le=512, description="CPU threads for llama.cpp; 0 picks the physical cores."
    )
    context_size: int = Field(
        4096, ge=256, le=1_048_576, description="Context window of the llama.cpp context, in tokens."
    )
    batch_size: int = Field(512, ge=8, le=65_536, description="Prompt evaluation batch size.")
    placement: Literal["auto", "cpu", "gpu", "experts-on-cpu"] = Field(
        "auto",
        description=(
            "Where the model's tensors go: `auto` picks the fastest placement that fits the "
            "RAM and GPU memory; `cpu`; `gpu` (`gpuLayers` layers); `experts-on-cpu` keeps a "
            "mixture-of-experts model's routed experts in RAM and the rest on the GPU "
            "(llama.cpp's `--cpu-moe`)."
        ),
    )
    gpu_layers: int = Field(
        -1, ge=-1, le=10_000,
        description="Layers offloaded with placement `gpu` (-1: all, the output counting as one).",
    )
    n_cpu_moe: int | None = Field(
        None, ge=0, le=10_000,
        description=(
            "With placement `experts-on-cpu`: keep only the experts of the first N layers in RAM "
            "(llama.cpp's `--n-cpu-moe N`); unset: every layer's."
        ),
    )
    kv_cache_type: Literal["f16", "q8_0", "q4_0"] = Field(
        "f16", description="KV cache precision; `q8_0` halves its memory, `q4_0` quarters it."
    )
    flash_attention: Literal["auto", "on", "off"] = Field(
        "auto",
        description=(
            "Flash attention; `auto` turns it on for a quantized KV cache, GPU layers, or a "
            "context where it saves memory."
        ),
    )
    cpu_extra_buffers: Literal["auto", "on", "off"] = Field(
        "auto",
        description=(
            "llama.cpp's extra CPU buffer types (weights repacked for faster matrix products, "
            "Intel AMX tiles). `auto` turns them off when the llama.cpp build has its AMX path, "
            "which crashes with an illegal instruction on some AMX CPUs (ggml-org/llama.cpp#20824, "
            "#28756); `on` keeps them whatever the build."
        ),
    )
    vram_bytes: int = Field(
        0, ge=0, description="GPU memory to plan with, in bytes; 0 asks llama.cpp for the free memory."
    )
    memory_check: bool = Field(
        True,
        description=(
            "Refuse to load a model whose estimated memory does not fit, saying what would fit "
            "instead."
        ),
    )
    model_cache_dir: str | None = Field(
        None, description="Where assembled and downloaded models are kept (default: the user cache)."
    )
    offline: bool = Field(
        False, description="Never contact a model hub; use only files already on disk."
    )
    url: str | None = Field(
        None,
        description=(
            "Remote engine address, e.g. `https://llm.example.com` or `http://127.0.0.1:8080` "
            "(a trailing `/v1` is fine)."
        ),
    )
    api_key: SecretStr | None = Field(
        None, description="Bearer token for the remote engine (never logged; prefer `apiKeyEnv`)."
    )
    api_key_env: str = Field(
        "QWILL_API_KEY",
        description="Environment variable holding the remote engine's bearer token when `apiKey` is unset.",
    )
    ca_bundle: str | None = Field(
        None,
        description=(
            "PEM file of extra CA certificates to trust for an https engine (verification is "
            "always on)."
        ),
    )
    connect_timeout: float = Field(
        5.0, gt=0, le=300, description="Seconds to wait for a remote engine to accept a connection."
    )
    read_timeout: float = Field(
        60.0, gt=0, le=3600, description="Seconds a remote engine may stay silent before the request fails."
    )
    retries: int = Field(
        2, ge=0, le=10,
        description="Retries on connection errors and HTTP 5xx before the first token (never after).",
    )
    retry_backoff: float = Field(
        0.25, ge=0, le=30, description="Seconds before the first retry; doubles each time."
    )
    slot_id: int = Field(
        -1, ge=-1, le=1024,
        description="llama.cpp server slot to pin requests to (`id_slot`; -1 lets the server pick).",
    )
    infill: bool = Field(
        False,
        description=(
            "llama.cpp server: send completions to `/infill` (the server formats the FIM prompt) "
            "instead of Qwill's own prompt to `/completion`."
        ),
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.strip().lower().startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.strip()


class AgentEngineSettings(EngineSettings):
    backend: Literal["same", "local", "openai", "llama-server", "ollama"] = Field(  # type: ignore[assignment]
        "same",
        description=(
            "Engine for the agent and code actions: `same` shares the completion engine; "
            "otherwise one of the `engine.backend` values, configured by the keys below."
        ),
    )


class CompletionSettings(_Section):
    enabled: bool = Field(True, description="Offer inline completions.")
    max_tokens: int = Field(64, ge=1, le=2048, description="Most tokens generated per suggestion.")
    lines_before: int = Field(
        80, ge=0, le=10_000, description="Lines of the document before the cursor in the prompt."
    )
    lines_after: int = Field(
        15, ge=0, le=10_000,
        description="Lines of the document after the cursor in the prompt (a re-anchor evaluates them again).",
    )
    window_tokens: int = Field(
        1536, ge=64, le=262_144,
        description="Most tokens of the document around the cursor in the prompt (about 3/4 before, "
        "1/4 after); linesBefore/linesAfter cap it by lines.",
    )
    invoked_lines_before: int = Field(
        256, ge=0, le=10_000,
        description="Lines before the cursor for a completion you invoke explicitly (measured: a longer "
        "window helps a fill-in-the-middle answer, and hurt while typing).",
    )
    invoked_lines_after: int = Field(
        64, ge=0, le=10_000,
        description="Lines after the cursor for a completion you invoke explicitly (measured: with 15 the "
        "model's answer missed what the code below says; 64, llama.vim's, matched the window-only peer).",
    )
    invoked_window_tokens: int = Field(
        3072, ge=64, le=262_144,
        description="Most tokens of the document around the cursor for a completion you invoke explicitly.",
    )
    invoked_token_healing: bool = Field(
        False,
        description="When you invoke a completion with the cursor after a space or punctuation mark the "
        "tokenizer joins with what follows (`if |key`, `self.|name`), the model spells that piece out "
        "again from its start (token healing) instead of continuing from half a token. Off: on the "
        "default 0.5B model it lost more right answers than it won (README, FIM benchmarks).",
    )
    time_budget: float = Field(
        0.5, ge=0.0, le=60.0,
        description="Seconds of generation allowed after the first line of an automatic "
        "suggestion (0: no limit; explicitly invoked completions are never cut by time).",
    )
    multiline: bool = Field(True, description="Allow suggestions spanning several lines.")
    kv_shift: bool = Field(
        False,
        description="When the prompt is re-anchored after typing, move the cached K/V of the text after "
        "the cursor to its new place instead of evaluating it again: faster re-anchors, measurably "
        "worse suggestions (see the README's benchmarks).",
    )
    temperature: float = Field(
        0.0, ge=0.0, le=2.0, description="Sampling temperature (0: greedy, deterministic)."
    )
    fim_template: Literal["auto", "qwen", "starcoder", "deepseek", "codellama", "codestral", "codegemma"] = Field(
        "auto", description="FIM prompt format; `auto` reads it from the model's metadata."
    )


class ContextSettings(_Section):
    enabled: bool = Field(
        True, description="Add code context from the workspace (tree-sitter) ahead of the local window."
    )
    token_budget: int = Field(
        512, ge=0, le=16_384,
        description="Most tokens of context blocks per completion prompt (estimated; 0 turns context off).",
    )
    definitions: bool = Field(
        True, description="Definitions of the names used or imported near the cursor, from any workspace file."
    )
    scope_outlines: bool = Field(
        True, description="The enclosing class outline and function header when they are above the window."
    )
    recent_edits: bool = Field(
        True, description="Regions you edited recently (other files, or far from the cursor)."
    )
    similar_snippets: bool = Field(
        True, description="Snippets of other open documents that share identifiers with the code at the cursor."
    )
    small_models: bool = Field(
        False,
        description="Add context for completion models under 3B parameters too. Off by default: on the "
        "default 0.5B model the context sources lowered typing-trace agreement (README, Benchmarks); "
        "larger models get it.",
    )
    index_workspace: bool = Field(
        True, description="Index the workspace folders' definitions in the background (with `$/progress`)."
    )
    max_index_files: int = Field(5000, ge=0, le=1_000_000, description="Most files the workspace index reads.")
    max_index_symbols: int = Field(
        100_000, ge=0, le=10_000_000, description="Most definitions the workspace index keeps."
    )


class McpServerSettings(_Section):
    """One MCP server, in the shape other MCP clients use: `command`/`args`/`env` for a
    server the agent starts (stdio), or `url`/`headers` for one it connects to
    (streamable HTTP)."""

    command: str = Field("", description="stdio: the program that runs the server.")
    args: list[str] = Field(default_factory=list, description="stdio: its arguments.")
    env: dict[str, str] = Field(default_factory=dict, description="stdio: extra environment variables.")
    url: str = Field("", description="streamable HTTP: the server's endpoint, e.g. `http://127.0.0.1:8000/mcp`.")
    headers: dict[str, str] = Field(default_factory=dict, description="streamable HTTP: request headers.")


class AgentSettings(_Section):
    max_steps: int = Field(25, ge=1, le=500, description="Most model turns (steps) in one agent run.")
    max_tool_calls_per_step: int = Field(
        8, ge=1, le=100, description="Most tool calls carried out from one model turn."
    )
    max_tokens_per_step: int = Field(
        1536, ge=16, le=32_768, description="Most tokens the model may generate in one turn."
    )
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature of the agent.")
    needs_confirmation: bool = Field(
        True, description="Mark agent edits `needsConfirmation` so the editor asks before applying them."
    )
    test_command: str = Field(
        "", description="The project's test command (e.g. `pytest -q`), run by `run_tests` and after each applied "
                        "change; empty: found from the project's files (`npm test`, `python -m pytest`, "
                        "`go test ./...`, `cargo test`, `make test`). From an editor, used once you confirm it "
                        "(user or machine settings only in VS Code)."
    )
    command_timeout: float = Field(
        120.0, gt=0, le=3600, description="Seconds before an agent shell command is killed."
    )
    shell_deny: list[str] = Field(
        default_factory=list, description="Extra command patterns the agent may never run (e.g. `make deploy`)."
    )
    shell_ask: list[str] = Field(
        default_factory=list, description="Extra command patterns that need your approval each time."
    )
    shell_allow: list[str] = Field(
        default_factory=list, description="Extra command patterns the agent may run without asking."
    )
    shell_default: Literal["ask", "deny"] = Field(
        "ask", description="What happens to a command on no list: ask you, or refuse."
    )
    sandbox: bool = Field(
        True, description="Run agent commands in a sandbox: bubblewrap (no network, writes only in the workspace, "
                          "`.git` and editor settings read-only), else Landlock; off needs your confirmation."
    )
    approval_mode: Literal["plan", "ask", "auto-edit", "yolo"] = Field(
        "ask",
        description=(
            "How much the agent does without asking: `plan` (read-only; it proposes a plan you approve), "
            "`ask` (edits reviewed, commands by policy), `auto-edit` (edits applied with checkpoints, "
            "commands by policy), `yolo` (also runs what the policy would ask about; denied commands stay "
            "denied)."
        ),
    )
    constrain_tool_calls: bool = Field(
        True,
        description=(
            "Local models: decode tool calls under a grammar built from the tools' schemas, so every "
            "call parses and validates (prose stays free). Remote engines: send the tools as the server's "
            "own (`tools`), falling back to the text formats when it does not take them."
        ),
    )
    edit_format: Literal["auto", "tools", "whole"] = Field(
        "auto",
        description=(
            "How the agent's model changes files: `tools` (read, search and edit with tool calls), `whole` "
            "(it sees every file of a small workspace in its first message and writes each file it changes "
            "in full, after its path, in a fenced block; the project's tests run after each answer), "
            "`auto` (`whole` for local models under 3B parameters, which edit more reliably that way, "
            "`tools` otherwise, and for a task that renames a name the code defines or renames or moves one "
            "of its files: `rename_symbol` and `rename_file` do it in one call)."
        ),
    )
    ask_for_test: Literal["auto", "on", "off"] = Field(
        "auto",
        description=(
            "Before a run that changed Python code ends, ask the model once for a new test file that "
            "checks the change the way the task describes it, when no test changed in the run and the "
            "task itself does not speak of tests; the project's tests then run it and a failure goes "
            "back to the model. `auto`: in the whole-file edit format (small local models, whose "
            "changes most need checking); `on`: in both formats."
        ),
    )
    checks_first: Literal["auto", "on", "off"] = Field(
        "auto",
        description=(
            "Run the project's tests before the model's first answer and, when they fail, show it what "
            "fails (each failing test, the line and the assertion) with the task, what the calls the "
            "task names (`parse_duration('45m')`: a function the workspace defines, literal arguments) return "
            "or raise, and which `>>>` examples of the doc files it names do not give what they show. "
            "`auto`: when the task "
            "speaks of something failing or broken (a failing test, a bug, an error, a crash, a wrong "
            "result); `on`: every run; `off`: never."
        ),
    )
    mcp_servers: dict[str, McpServerSettings] = Field(
        default_factory=dict,
        description=(
            "MCP servers whose tools the agent may use: `{\"name\": {\"command\", \"args\", \"env\"}}` (stdio) "
            "or `{\"name\": {\"url\", \"headers\"}}` (streamable HTTP). Each call is asked about unless "
            "`mcpAllow` allows it."
        ),
    )
    mcp_allow: list[str] = Field(
        default_factory=list,
        description=(
            "MCP tools the agent may call without asking: a server name (all its tools) or `server/tool`. "
            "Read from user settings only."
        ),
    )
    repo_map_tokens: int = Field(
        1024, ge=0, le=16_384,
        description="Tokens of repository map (files and their most referenced definitions) shown with the first task.",
    )


class ActionsSettings(_Section):
    enabled: bool = Field(True, description="Offer code actions (fix, explain, document, tests, rewrite).")
    max_tokens: int = Field(
        1024, ge=64, le=16_384,
        description="Most tokens the model may write for a code action (fix, rewrite, tests).",
    )
    temperature: float = Field(
        0.0, ge=0.0, le=2.0, description="Sampling temperature for code actions (0: greedy, deterministic)."
    )


class NextEditSettings(_Section):
    enabled: bool = Field(
        True, description="Predict the edit that follows yours (`qwill/nextEdit`, shown by the Qwill clients; "
        "a code action for other clients).",
    )
    model: str = Field(
        "",
        description=(
            "Model for next-edit prediction: empty uses the completion model; otherwise another local "
            "model as in `engine.model` (`default-1.5b`, a .gguf path such as a Sweep next-edit or Zeta "
            "GGUF), loaded with the `engine` settings."
        ),
    )
    prompt_format: Literal["auto", "instruct", "sweep", "zeta"] = Field(
        "auto",
        description=(
            "Prompt format: `auto` picks it from the model's metadata (Sweep next-edit models: `sweep`, "
            "Zed's Zeta: `zeta`, any other instruct model: `instruct`)."
        ),
    )
    debounce: float = Field(
        0.3, ge=0.0, le=10.0,
        description="Seconds the Qwill clients wait after your last keystroke before asking for a next edit.",
    )
    region_lines: int = Field(
        15, ge=3, le=80,
        description="Lines of the editable region around the cursor (and the last edit) a prediction may rewrite.",
    )
    max_tokens: int = Field(
        384, ge=16, le=4096, description="Most tokens the model may write for one prediction.",
    )


class Settings(_Section):
    engine: EngineSettings = Field(default_factory=EngineSettings)
    completion: CompletionSettings = Field(default_factory=CompletionSettings)
    context: ContextSettings = Field(default_factory=ContextSettings)
    actions: ActionsSettings = Field(default_factory=ActionsSettings)
    agent_engine: AgentEngineSettings = Field(default_factory=AgentEngineSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    next_edit: NextEditSettings = Field(default_factory=NextEditSettings)
    log_level: Literal["error", "warning", "info", "debug"] = Field(
        "warning", description="Server log verbosity (logs go to stderr / the editor's output panel); "
        "applied when it changes. `--log-level` on the command line overrides it."
    )


@dataclass
class SettingsResult:
    settings: Settings
    problems: list[str] = field(default_factory=list)
    # set by Session.update_settings: the model must be reloaded
    engine_changed: bool = False


def _walk_unknown(raw: dict[str, Any], model: type[BaseModel], prefix: str) -> list[str]:
    known: dict[str, Any] = {}
    for name, field_info in model.model_fields.items():
        known[field_info.alias or name] = field_info
        known[name] = field_info
    problems = []
    for key, value in raw.items():
        info = known.get(key)
        if info is None:
            problems.append(f"unknown setting '{prefix}{key}' ignored")
            continue
        sub = info.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel) and isinstance(value, dict):
            problems.extend(_walk_unknown(value, sub, f"{prefix}{key}."))
    return problems


def _drop(raw: dict[str, Any], loc: tuple[int | str, ...]) -> None:
    node: Any = raw
    for part in loc[:-1]:
        if not isinstance(node, dict) or part not in node:
            return
        node = node[part]
    if isinstance(node, dict):
        node.pop(loc[-1], None)


def _copy(raw: Any) -> Any:
    if isinstance(raw, dict):
        return {k: _copy(v) for k, v in raw.items()}
    return raw


def parse_settings(raw: Any, base: Settings | None = None) -> SettingsResult:
    """Validate `raw` (camelCase dict) into Settings.

    Each invalid value is reported and falls back to its default (or to the
    value in `base`, when updating), so one typo never disables the rest.
    """
    problems: list[str] = []
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return SettingsResult(base or Settings(), [f"settings must be an object, got {type(raw).__name__}"])
    data = _copy(raw)
    # Some clients wrap settings in a `qwill` section.
    if set(data) == {"qwill"} and isinstance(data["qwill"], dict):
        data = data["qwill"]
    # Flat clients (LSP4IJ's settings.json, VS Code style) send `qwill.engine.model` keys.
    data = _expand_dotted(data)
    problems.extend(_walk_unknown(data, Settings, ""))
    # snake_case keys become their camelCase aliases, so that an update merges over
    # the base's (camelCase) values instead of losing to them
    data = _aliased(data, Settings)
    previous = base.model_dump(by_alias=True) if base is not None else {}
    if base is not None:
        merged = base.model_dump(by_alias=True)
        _deep_update(merged, data)
        data = merged
    for _ in range(64):
        try:
            return SettingsResult(Settings.model_validate(data), problems)
        except ValidationError as err:
            for e in err.errors():
                name = ".".join(str(p) for p in e["loc"])
                # the setting itself, not an item of a list setting
                loc = tuple(str(p) for p in itertools.takewhile(lambda p: isinstance(p, str), e["loc"]))
                if not loc:
                    problems.append(f"invalid setting '{name}': {e['msg']}; using the default")
                    return SettingsResult(base or Settings(), problems)
                prev = _lookup(previous, loc)
                if prev is _MISSING:
                    problems.append(f"invalid setting '{name}': {e['msg']}; using the default")
                    _drop(data, loc)
                else:
                    # fall back to the previous value rather than the default
                    problems.append(f"invalid setting '{name}': {e['msg']}; keeping the previous value")
                    _put(data, loc, prev)
    return SettingsResult(base or Settings(), problems)


_MISSING = object()


def _lookup(node: Any, loc: tuple[str, ...]) -> Any:
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _node(raw: dict[str, Any], path: Sequence[str]) -> dict[str, Any]:
    """The dict at `path` in `raw`, created (replacing non-dicts) as needed."""
    node = raw
    for part in path:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    return node


def _put(raw: dict[str, Any], loc: tuple[str, ...], value: Any) -> None:
    _node(raw, loc[:-1])[loc[-1]] = value


def _aliased(raw: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """`raw` with field names replaced by their aliases, recursively."""
    fields: dict[str, tuple[str, Any]] = {}
    for name, info in model.model_fields.items():
        fields[name] = fields[info.alias or name] = (info.alias or name, info)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        alias, info = fields.get(key, (key, None))
        sub = info.annotation if info is not None else None
        if isinstance(sub, type) and issubclass(sub, BaseModel) and isinstance(value, dict):
            value = _aliased(value, sub)
        out[alias] = value
    return out


def _expand_dotted(data: dict[str, Any]) -> dict[str, Any]:
    """`{"qwill.engine.model": x}` -> `{"engine": {"model": x}}`; nested keys pass through."""
    if not any("." in key for key in data):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        parts = key.split(".")
        if len(parts) > 1 and parts[0] == "qwill":
            parts = parts[1:]
        node = _node(out, parts[:-1])
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            _deep_update(node[parts[-1]], value)
        else:
            node[parts[-1]] = value
    return out


def _deep_update(target: dict[str, Any], src: dict[str, Any]) -> None:
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value


def flat_settings_schema(prefix: str = "qwill") -> dict[str, dict[str, Any]]:
    """Flatten the settings into `qwill.section.key` entries (VS Code, README table)."""
    out: dict[str, dict[str, Any]] = {}

    def walk(model: type[BaseModel], path: str) -> None:
        schema = model.model_json_schema(by_alias=True)
        for name, info in model.model_fields.items():
            alias = info.alias or name
            sub = info.annotation
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                walk(sub, f"{path}.{alias}")
                continue
            prop = dict(schema["properties"][alias])
            prop.pop("title", None)
            if "anyOf" in prop:
                types = [t.get("type") for t in prop.pop("anyOf") if "type" in t]
                prop["type"] = types
            out[f"{path}.{alias}"] = prop

    walk(Settings, prefix)
    return out
