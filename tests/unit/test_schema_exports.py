"""The editor clients' settings files are generated from qwill.config.Settings and must not drift.

When this fails after you add or change a setting: `python -m qwill.schema write`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from qwill import schema
from qwill.config import Settings, parse_settings

ROOT = schema.repo_root()


def _leaves(model: type[BaseModel], prefix: str = "qwill") -> dict[str, Any]:
    """Every leaf setting of the pydantic model with its default, walked independently of schema.py."""
    out: dict[str, Any] = {}
    defaults = model().model_dump(by_alias=True, mode="json")
    for name, info in model.model_fields.items():
        alias = info.alias or name
        sub = info.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            out.update(_leaves(sub, f"{prefix}.{alias}"))
        else:
            out[f"{prefix}.{alias}"] = defaults[alias]
    return out


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")[1:]
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def test_generated_files_match_the_settings_model() -> None:
    stale = schema.drifted(ROOT)
    assert stale == [], f"{stale} drifted from qwill.config.Settings: run `python -m qwill.schema write`"


def test_vscode_manifest_declares_every_server_setting_with_its_default() -> None:
    package = json.loads((ROOT / "editor-clients/vscode/package.json").read_text())
    props = package["contributes"]["configuration"]["properties"]
    server = {k: v for k, v in props.items() if not k.startswith(schema.CLIENT_SECTIONS)}
    leaves = _leaves(Settings)
    assert set(server) == set(leaves)
    for key, default in leaves.items():
        assert server[key]["default"] == default, key
        assert server[key]["markdownDescription"], f"{key} has no description"
    assert props["qwill.server.path"]["scope"] == "machine"
    orders = [p["order"] for p in props.values()]
    assert orders == sorted(orders) and len(set(orders)) == len(orders)


def test_what_the_vscode_extension_sends_by_default_parses_without_problems() -> None:
    package = json.loads((ROOT / "editor-clients/vscode/package.json").read_text())
    props = package["contributes"]["configuration"]["properties"]
    sent = _nest({k: v["default"] for k, v in props.items() if not k.startswith(schema.CLIENT_SECTIONS)})
    result = parse_settings(sent)
    assert result.problems == []
    assert result.settings == Settings()


def test_client_only_sections_do_not_collide_with_server_settings() -> None:
    top = {info.alias or name for name, info in Settings.model_fields.items()}
    assert not top & {"server", "trace"}


def test_lsp4ij_files_parse_to_the_defaults() -> None:
    jb = ROOT / "editor-clients/jetbrains"
    flat = json.loads((jb / "settings.json").read_text())
    init = json.loads((jb / "initializationOptions.json").read_text())
    schema_json = json.loads((jb / "settings.schema.json").read_text())
    assert set(flat) == set(schema_json["properties"]) == set(_leaves(Settings))
    assert schema_json["additionalProperties"] is False
    for raw in (flat, init, {"qwill": init}):
        result = parse_settings(raw)
        assert result.problems == []
        assert result.settings == Settings()


def test_lsp4ij_template_points_at_qwill_serve() -> None:
    template = json.loads((ROOT / "editor-clients/jetbrains/template.json").read_text())
    assert template["programArgs"]["default"] == "qwill serve"
    assert template["expandConfiguration"] is True
    assert template["fileTypeMappings"]


def test_flat_dotted_keys_are_read_like_nested_ones() -> None:
    result = parse_settings({"qwill.engine.model": "x.gguf", "qwill.completion.maxTokens": 7,
                             "completion.multiline": False})
    assert result.problems == []
    assert result.settings.engine.model == "x.gguf"
    assert result.settings.completion.max_tokens == 7
    assert result.settings.completion.multiline is False


def test_flat_dotted_keys_report_unknown_and_bad_values() -> None:
    result = parse_settings({"qwill.engine.nope": 1, "qwill.completion.maxTokens": "many"})
    assert "unknown setting 'engine.nope' ignored" in result.problems
    assert any("completion.maxTokens" in p for p in result.problems)
    assert result.settings.completion.max_tokens == Settings().completion.max_tokens


def test_drift_is_detected_and_write_repairs_it(tmp_path: Path) -> None:
    for gen in schema.GENERATED:
        dest = tmp_path / gen.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / gen.path, dest)
    assert schema.drifted(tmp_path) == []
    package = tmp_path / "editor-clients/vscode/package.json"
    data = json.loads(package.read_text())
    del data["contributes"]["configuration"]["properties"]["qwill.completion.maxTokens"]
    package.write_text(json.dumps(data, indent=2) + "\n")
    readme = tmp_path / "README.md"
    readme.write_text(readme.read_text().replace("`qwill.engine.model`", "`qwill.engine.modl`"))
    assert sorted(schema.drifted(tmp_path)) == ["README.md", "editor-clients/vscode/package.json"]
    assert sorted(schema.write_all(tmp_path)) == ["README.md", "editor-clients/vscode/package.json"]
    assert schema.drifted(tmp_path) == []
    # hand-written parts of the manifest survive a rewrite
    assert json.loads(package.read_text())["main"] == data["main"]


def test_untrusted_workspaces_cannot_redirect_code_or_widen_the_agent() -> None:
    package = json.loads((ROOT / "editor-clients/vscode/package.json").read_text())
    props = package["contributes"]["configuration"]["properties"]
    untrusted = package["capabilities"]["untrustedWorkspaces"]
    assert untrusted["supported"] == "limited"
    restricted = set(untrusted["restrictedConfigurations"])
    assert restricted <= set(props)
    for key in props:
        sensitive = key.split(".")[-1] in {"url", "apiKey", "apiKeyEnv", "caBundle", "backend"} or \
            key.startswith(("qwill.agent.shell", "qwill.agent.sandbox", "qwill.agent.testCommand",
                            "qwill.agent.mcp", "qwill.agent.approvalMode"))
        assert (key in restricted) == sensitive, key
    # what the agent may do without asking is set in the user's own settings only
    assert props["qwill.agent.mcpAllow"]["scope"] == props["qwill.agent.approvalMode"]["scope"] == "application"
    # the executable the editor runs is a machine setting: no workspace can set it
    assert props["qwill.server.path"]["scope"] == props["qwill.server.extraArgs"]["scope"] == "machine"
    # the agent's policy too: VS Code never takes it from a workspace's settings file
    policy = [k for k in props if k.startswith(("qwill.agent.shell", "qwill.agent.sandbox", "qwill.agent.testCommand"))]
    assert len(policy) == 6
    assert all(props[k].get("scope") == "machine" for k in policy), policy
