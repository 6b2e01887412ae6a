import re

import mdlint


def test_versions():
    assert mdlint.__version__ == "1.5.0"
    assert re.search(r'^version = "1.5.0"$', open("pyproject.toml").read(), re.M)


def test_changelog():
    text = open("CHANGELOG.md").read()
    sections = re.findall(r"^## (\S+)", text, re.M)
    assert sections[:2] == ["1.5.0", "1.4.2"]
    top = text.split("## 1.5.0", 1)[1].split("## 1.4.2", 1)[0]
    assert "- Added: --quiet option" in top
    assert "- Fixed: crash on empty files" in text
