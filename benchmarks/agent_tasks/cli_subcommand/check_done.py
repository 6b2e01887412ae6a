from todo import store
from todo.cli import main


def test_mark_done():
    todos = store.add(store.add([], "a"), "b")
    store.mark_done(todos, 2)
    assert [t["done"] for t in todos] == [False, True]


def test_done_command(tmp_path, capsys):
    path = str(tmp_path / "t.json")
    main(["add", "milk"], path=path)
    main(["add", "bread"], path=path)
    main(["done", "1"], path=path)
    capsys.readouterr()
    main(["list"], path=path)
    assert capsys.readouterr().out.splitlines() == ["1. [x] milk", "2. [ ] bread"]


def test_documented():
    assert "done" in open("README.md").read()
