import json

from wordcount.cli import main


def test_json_option(tmp_path, capsys):
    f = tmp_path / "t.txt"
    f.write_text("one two\nthree\n")
    assert main([str(f), "--json"]) in (0, None)
    assert json.loads(capsys.readouterr().out) == {"lines": 2, "words": 3, "chars": 14}


def test_default_output_unchanged(tmp_path, capsys):
    f = tmp_path / "t.txt"
    f.write_text("one two\n")
    main([str(f)])
    assert capsys.readouterr().out.splitlines()[1].strip() == "words: 2"


def test_documented():
    assert "--json" in open("README.md").read()
