"""Agent evaluation: multi-file tasks on real mini repositories, driven as a user drives
the agent, with aider on the same model, tasks and machine in the same run.

Each task (benchmarks/agent_tasks/<name>/) is a small repository (`repo/`: packages,
READMEs, configuration, tests), an instruction (`task.json`), hidden checks
(`check_*.py`, copied in only after the agent is done, so it cannot edit or read them)
and a reference solution (`solution/`, the files a correct change produces, and
`solution_deletes` in task.json, the files it removes;
tests/unit/test_agent_eval.py checks that the checks fail on the repository and pass
with the solution). The repository is laid out in a temporary directory as a git
repository with one commit.

Systems:
- `qwill`: `qwill agent INSTRUCTION --yes --model M --root REPO --json` as a subprocess,
  exactly the command a user types (no test command given: Qwill finds it);
  with its default settings (`agent.editFormat: auto`: whole-file answers for a model under 3B
  parameters, tool calls for larger ones);
- `qwill-tools`: the same with `agent.editFormat: tools` (tool calls under the grammar, a
  `--config` file), and `qwill-nogrammar` with tool calls and `agent.constrainToolCalls: false`;
- `aider`: aider (`--aider`, installed in its own virtualenv) with the same GGUF served by
  llama-cpp-python's OpenAI-compatible server, every repository file in the chat, its
  repository map, and `--auto-test` with the project's test command (aider's way of
  checking its work), `--edit-format whole` unless `--aider-edit-format` says otherwise;
- `--lsp TASK` also runs one task through `qwill serve` as an editor would (an LSP client
  that applies `workspace/applyEdit` to disk and answers `Run` to command approvals).

Reported per system: tasks solved (the hidden checks pass), how runs ended (Qwill: done,
loop, max_steps...), tool calls and how many were well-formed (parsed and valid against
their tool's schema), steps, wall time, prompt tokens evaluated on the first step and on
later steps (the rest comes from the KV cache).

    python -m benchmarks.agent_eval --systems qwill qwill-nogrammar aider --json out.json
    python -m benchmarks.agent_eval --tasks json_output config_port --systems qwill -v
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.llama_cpp_server import ServerFailed, llama_cpp_server

TASKS_DIR = Path(__file__).parent / "agent_tasks"
SYSTEMS = ("qwill", "qwill-tools", "qwill-nogrammar", "aider")
# the settings each Qwill system runs with (the `--config` file)
QWILL_SETTINGS = {"qwill": {}, "qwill-tools": {"editFormat": "tools", "constrainToolCalls": True},
                  "qwill-nogrammar": {"editFormat": "tools", "constrainToolCalls": False}}


@dataclass
class TaskResult:
    system: str
    name: str
    success: bool
    reason: str  # how the run ended (Qwill's result reason; aider: exit code / timeout)
    steps: int
    tool_calls: int = 0
    malformed_turns: int = 0  # turns whose tool calls could not be read
    invalid_calls: int = 0  # calls read but not valid against their tool's schema
    applied: int = 0
    seconds: float = 0.0
    per_step: list[dict[str, Any]] = field(default_factory=list)
    check_output: str = ""
    answer: str = ""
    checks: str = ""  # Qwill's last run of the project's tests


# -- tasks -----------------------------------------------------------------------------------
def load_tasks(names: list[str] | None = None) -> list[dict[str, Any]]:
    tasks = []
    for d in sorted(TASKS_DIR.iterdir()):
        if not (d / "task.json").is_file() or (names and d.name not in names):
            continue
        spec = json.loads((d / "task.json").read_text())
        spec["name"] = d.name
        spec["dir"] = d
        tasks.append(spec)
    if names and len(tasks) != len(set(names)):
        unknown = sorted(set(names) - {t["name"] for t in tasks})
        raise SystemExit(f"unknown tasks: {', '.join(unknown)}")
    return tasks


def _git(repo: Path, *args: str) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="eval", GIT_AUTHOR_EMAIL="eval@localhost",
               GIT_COMMITTER_NAME="eval", GIT_COMMITTER_EMAIL="eval@localhost")
    subprocess.run(["git", *args], cwd=repo, check=True, env=env, capture_output=True)


def lay_out(task: dict[str, Any], into: Path, *, solution: bool = False) -> Path:
    """The task's repository in `into`, as a git repository with one commit (with the
    reference solution applied on top when `solution`)."""
    repo = into / task["name"]
    shutil.copytree(task["dir"] / "repo", repo)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "initial")
    if solution:
        for src in (task["dir"] / "solution").rglob("*"):
            if src.is_file():
                dest = repo / src.relative_to(task["dir"] / "solution")
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, dest)
        for rel in task.get("solution_deletes", []):
            (repo / rel).unlink()
    return repo


def check(task: dict[str, Any], repo: Path) -> tuple[bool, str]:
    """Copy the hidden checks in and run them with the repository's own tests."""
    checks = sorted(task["dir"].glob("check_*.py"))
    for c in checks:
        shutil.copy(c, repo / c.name)
    targets = [c.name for c in checks] + (["tests"] if (repo / "tests").is_dir() else [])
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *targets],
                       cwd=repo, capture_output=True, text=True, timeout=300)
    return r.returncode == 0, (r.stdout + r.stderr)[-1500:]


def repo_files(repo: Path) -> list[str]:
    return sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*")
                  if p.is_file() and ".git" not in p.relative_to(repo).parts)


# -- Qwill through its CLI ---------------------------------------------------------------------
def run_qwill(task: dict[str, Any], repo: Path, args: argparse.Namespace, *, system: str,
              log: Path) -> TaskResult:
    config = repo.parent / f".{task['name']}-qwill.json"
    config.write_text(json.dumps({"agent": QWILL_SETTINGS[system]}))
    cmd = [sys.executable, "-m", "qwill", "agent", task["instruction"], "--yes", "--json",
           "--model", args.model, "--root", str(repo), "--max-steps", str(args.max_steps),
           "--ctx", str(args.ctx), "--config", str(config)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    # as from a shell with the virtualenv activated: its python (with pytest) comes first
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    t0 = time.perf_counter()
    with log.open("w") as err:
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True, timeout=args.timeout,
                               env=env)
            out = r.stdout
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    seconds = time.perf_counter() - t0
    config.unlink(missing_ok=True)
    try:
        res = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        ok, output = check(task, repo)
        return TaskResult(system, task["name"], ok, "crashed/timeout", 0, seconds=round(seconds, 1),
                          check_output=output)
    ok, output = check(task, repo)
    per_step = [{"step": s["step"], "prompt": s["prompt_tokens"], "prefill": s["prompt_eval_tokens"],
                 "generated": s["generated_tokens"], "prefill_s": s["prompt_seconds"],
                 "generate_s": s["generate_seconds"]} for s in res.get("stats", [])]
    return TaskResult(system, task["name"], ok, res["reason"], res["steps"], res["tool_calls"],
                      res["malformed_calls"], res.get("invalid_calls", 0), res["applied"], round(seconds, 1),
                      per_step, "" if ok else output, res.get("message", "")[:300], res.get("checks", ""))


# -- aider against llama-cpp-python's server -------------------------------------------------------
@contextlib.contextmanager
def llama_server(gguf: str, args: argparse.Namespace, log: Path) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on the GGUF; yields its /v1 base URL.
    It runs with the same llama.cpp build and CPU buffers as Qwill's engine."""
    try:
        with llama_cpp_server(gguf, log, ctx=args.ctx, threads=args.threads, alias="local") as server:
            yield f"{server.url}/v1"
    except ServerFailed as exc:
        raise SystemExit(f"llama-cpp-python's server did not start: {exc}") from None


def test_command(repo: Path) -> str:
    from qwill.agent.verify import discover_test_command

    found = discover_test_command(repo)
    return f"{sys.executable} -m pytest -q" if found is None or "pytest" in found.command else found.command


def run_aider(task: dict[str, Any], repo: Path, args: argparse.Namespace, base_url: str, log: Path) -> TaskResult:
    files = repo_files(repo)
    cmd = [args.aider, "--model", "openai/local", "--openai-api-base", base_url, "--openai-api-key", "none",
           "--edit-format", args.aider_edit_format, "--yes-always", "--no-auto-commits", "--no-check-update",
           "--no-analytics", "--no-show-model-warnings", "--no-pretty", "--no-stream", "--no-gitignore",
           "--map-tokens", "1024", "--auto-test", "--test-cmd", test_command(repo),
           "--message", task["instruction"], *files]
    env = dict(os.environ, AIDER_ANALYTICS="false", HOME=str(repo.parent / ".aider-home"))
    Path(env["HOME"]).mkdir(exist_ok=True)
    t0 = time.perf_counter()
    reason = "exit"
    with log.open("w") as out:
        try:
            r = subprocess.run(cmd, cwd=repo, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               timeout=args.timeout, env=env)
            reason = f"exit {r.returncode}"
        except subprocess.TimeoutExpired:
            reason = "timeout"
    seconds = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    steps = len(re.findall(r"^Tokens: ", text, re.M))
    ok, output = check(task, repo)
    return TaskResult("aider", task["name"], ok, reason, steps, seconds=round(seconds, 1),
                      check_output="" if ok else output)


# -- one run over LSP --------------------------------------------------------------------------------
async def run_lsp(task: dict[str, Any], repo: Path, args: argparse.Namespace, log: Path) -> TaskResult:
    """The task through `qwill serve --stdio`, as an editor runs it: qwill.agent.run with
    the workspace folder; the client applies each workspace/applyEdit to disk and answers
    `Run` to command approvals (a user who approves everything)."""
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient

    from qwill.context.document import Position, Range, TextChange, TextDocument

    client = LanguageClient("agent-eval", "1")
    events: list[Any] = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(ls: Any, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        for change in params.edit.document_changes or []:
            if isinstance(change, types.CreateFile):
                p = Path(change.uri.removeprefix("file://"))
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text("")
            elif isinstance(change, types.DeleteFile):
                Path(change.uri.removeprefix("file://")).unlink()
            elif isinstance(change, types.RenameFile):
                Path(change.old_uri.removeprefix("file://")).rename(change.new_uri.removeprefix("file://"))
            else:
                p = Path(change.text_document.uri.removeprefix("file://"))
                doc = TextDocument(change.text_document.uri, p.read_text())
                doc.apply([TextChange(e.new_text, Range(Position(e.range.start.line, e.range.start.character),
                                                        Position(e.range.end.line, e.range.end.character)))
                           for e in reversed(change.edits)])
                p.write_text(doc.text)
        return types.ApplyWorkspaceEditResult(applied=True)

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def ask(ls: Any, params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
        titles = [a.title for a in params.actions or []]
        return types.MessageActionItem(title=titles[0]) if titles else None

    @client.feature("qwill/agentEvent")
    def on_event(ls: Any, params: Any) -> None:
        events.append(params)

    settings = {"engine": {"model": args.model, "contextSize": args.ctx, "nThreads": args.threads},
                "agent": {"maxSteps": args.max_steps, "approvalMode": "auto-edit"}}
    ready = asyncio.Event()

    @client.feature("qwill/status")
    def on_status(ls: Any, params: Any) -> None:
        if getattr(params, "state", None) in ("ready", "error"):
            ready.set()

    await client.start_io(sys.executable, "-m", "qwill", "serve", "--stdio")
    t0 = time.perf_counter()
    try:
        await client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(
                workspace=types.WorkspaceClientCapabilities(workspace_edit=types.WorkspaceEditClientCapabilities(
                    document_changes=True, resource_operations=[
                        types.ResourceOperationKind.Create, types.ResourceOperationKind.Rename,
                        types.ResourceOperationKind.Delete])),
                window=types.WindowClientCapabilities(show_message=types.ShowMessageRequestClientCapabilities())),
            initialization_options=settings, root_uri=repo.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=repo.as_uri(), name=repo.name)]))
        client.initialized(types.InitializedParams())
        await asyncio.wait_for(ready.wait(), 600)
        res = await asyncio.wait_for(client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="qwill.agent.run", arguments=[{"task": task["instruction"]}])), args.timeout)
        await client.shutdown_async(None)
        client.exit(None)
    finally:
        with contextlib.suppress(Exception):
            await client.stop()
    seconds = time.perf_counter() - t0
    res = dict(res._asdict()) if hasattr(res, "_asdict") else dict(res)
    log.write_text("\n".join(json.dumps(e._asdict() if hasattr(e, "_asdict") else e, default=str)
                             for e in events))
    ok, output = check(task, repo)
    stats = [s._asdict() if hasattr(s, "_asdict") else s for s in res.get("stats", [])]
    per_step = [{"step": s["step"], "prompt": s["prompt_tokens"], "prefill": s["prompt_eval_tokens"],
                 "generated": s["generated_tokens"]} for s in stats]
    return TaskResult("qwill-lsp", task["name"], ok, str(res.get("status")), int(res.get("steps", 0)),
                      int(res.get("tool_calls", 0)), int(res.get("malformed_calls", 0)),
                      int(res.get("invalid_calls", 0)), int(res.get("applied", 0)), round(seconds, 1), per_step,
                      "" if ok else output, str(res.get("message", ""))[:300])


# -- report ---------------------------------------------------------------------------------------
def summarize(results: list[TaskResult]) -> dict[str, Any]:
    n = len(results)
    calls = sum(r.tool_calls for r in results)
    bad = sum(r.invalid_calls for r in results) + sum(r.malformed_turns for r in results)
    later = [s for r in results for s in r.per_step[1:]]
    first = [r.per_step[0]["prefill"] for r in results if r.per_step]
    return {
        "tasks": n,
        "solved": sum(r.success for r in results),
        "ended": dict(Counter(r.reason for r in results)),
        "tool_calls": calls,
        "well_formed_calls": calls - sum(r.invalid_calls for r in results),
        "malformed_turns": sum(r.malformed_turns for r in results),
        "well_formed_rate": round((calls - bad) / calls, 3) if calls else None,
        "mean_steps": round(sum(r.steps for r in results) / n, 2) if n else 0.0,
        "mean_prefill_first_step": round(sum(first) / len(first), 1) if first else None,
        "mean_prefill_later_steps": round(sum(s["prefill"] for s in later) / len(later), 1) if later else None,
        "seconds": round(sum(r.seconds for r in results), 1),
    }


def machine(when: str = "start") -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = ""
    with contextlib.suppress(OSError):
        load = f", load average {Path('/proc/loadavg').read_text().split()[0]} at the {when}"
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}{load}"


def table(summaries: dict[str, dict[str, Any]]) -> str:
    rows = ["| system | solved | ended | well-formed calls | steps, mean | prefill first / later steps | time |",
            "|---|---|---|---|---|---|---|"]
    for system, s in summaries.items():
        ended = ", ".join(f"{k} {v}" for k, v in sorted(s["ended"].items()))
        wf = f"{s['well_formed_calls']} / {s['tool_calls']} ({s['malformed_turns']} unreadable turns)" \
            if system != "aider" else "n/a (edit blocks)"
        prefill = (f"{s['mean_prefill_first_step']} / {s['mean_prefill_later_steps']}"
                   if s["mean_prefill_first_step"] is not None else "n/a")
        rows.append(f"| {system} | {s['solved']} / {s['tasks']} | {ended} | {wf} | {s['mean_steps']} | "
                    f"{prefill} | {s['seconds']:.0f} s |")
    return "\n".join(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default-1.5b")
    p.add_argument("--tasks", nargs="*", help="task names (default: all)")
    p.add_argument("--systems", nargs="*", default=["qwill"], choices=SYSTEMS)
    p.add_argument("--lsp", metavar="TASK", help="also run this task through `qwill serve` as an editor does")
    p.add_argument("--max-steps", type=int, default=15)
    p.add_argument("--ctx", type=int, default=8192)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--timeout", type=float, default=1800, help="seconds per task and system")
    p.add_argument("--aider", default="/work/peers/aider/bin/aider", help="the aider executable")
    p.add_argument("--aider-edit-format", default="whole", choices=["whole", "diff"])
    p.add_argument("--json", help="write the full report here")
    p.add_argument("--logs", help="keep each run's log here (default: a temporary directory)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()

    from qwill.engine.resolve import resolve_model

    gguf = str(resolve_model(args.model))
    tasks = load_tasks(args.tasks)
    start_machine = machine()
    print(f"{len(tasks)} tasks, systems {args.systems}, model {args.model} ({gguf}) on {start_machine}",
          file=sys.stderr)
    results: list[TaskResult] = []
    with tempfile.TemporaryDirectory(prefix="qwill-agent-eval-") as tmp:
        logs = Path(args.logs) if args.logs else Path(tmp) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            base_url = ""
            if "aider" in args.systems:
                if not Path(args.aider).exists():
                    raise SystemExit(f"aider not found at {args.aider} (pip install aider-chat into its own venv)")
                base_url = stack.enter_context(llama_server(gguf, args, logs / "llama-server.log"))
            for task in tasks:
                for system in args.systems:
                    work = Path(tmp) / system
                    work.mkdir(exist_ok=True)
                    repo = lay_out(task, work)
                    log = logs / f"{task['name']}.{system}.log"
                    if system == "aider":
                        r = run_aider(task, repo, args, base_url, log)
                    else:
                        r = run_qwill(task, repo, args, system=system, log=log)
                    results.append(r)
                    print(f"{task['name']:18} {system:16} {'PASS' if r.success else 'fail'}  {r.reason:12} "
                          f"steps={r.steps} calls={r.tool_calls} invalid={r.invalid_calls} "
                          f"unreadable={r.malformed_turns} {r.seconds:.0f}s", file=sys.stderr)
                    if args.verbose and not r.success:
                        print(r.check_output, file=sys.stderr)
                    report(results, args, start_machine)
        if args.lsp:
            (task,) = load_tasks([args.lsp])
            work = Path(tmp) / "lsp"
            work.mkdir()
            repo = lay_out(task, work)
            r = asyncio.run(run_lsp(task, repo, args, logs / f"{task['name']}.lsp.log"))
            results.append(r)
            print(f"{task['name']:18} {'qwill-lsp':16} {'PASS' if r.success else 'fail'}  {r.reason:12} "
                  f"steps={r.steps} {r.seconds:.0f}s", file=sys.stderr)
    summaries = report(results, args, start_machine)
    print(table(summaries))
    print(json.dumps(summaries, indent=2))
    return 0


def report(results: list[TaskResult], args: argparse.Namespace, start_machine: str) -> dict[str, dict[str, Any]]:
    """The summaries by system; written to --json after every run, so a long run cut short
    keeps what it measured (`complete` says whether every planned run is in)."""
    by_system: dict[str, list[TaskResult]] = {}
    for r in results:
        by_system.setdefault(r.system, []).append(r)
    summaries = {system: summarize(rs) for system, rs in by_system.items()}
    if args.json:
        planned = len(load_tasks(args.tasks)) * len(args.systems) + (1 if args.lsp else 0)
        Path(args.json).write_text(json.dumps({"model": args.model, "machine": start_machine,
                                               "machine_at_end": machine("end"), "args": vars(args),
                                               "complete": len(results) >= planned, "summary": summaries,
                                               "tasks": [asdict(r) for r in results]}, indent=2))
    return summaries


if __name__ == "__main__":
    sys.exit(main())
