import importlib
import pathlib


def test_new_module():
    text = importlib.import_module("textutils.text")
    assert text.shout("a") == "A!" and text.whisper("B") == "b..."


def test_old_module_gone():
    assert not pathlib.Path("textutils/strings.py").exists()
    for p in pathlib.Path(".").rglob("*.py"):
        if p.name.startswith("check_"):
            continue
        assert "strings" not in p.read_text(), p


def test_package_still_works():
    from textutils import shout
    from textutils.banner import banner
    assert shout("x") == "X!" and banner("ab").splitlines()[1] == "AB!"
