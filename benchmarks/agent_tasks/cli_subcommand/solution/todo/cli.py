import argparse

from . import store


def main(argv=None, path="todos.json"):
    parser = argparse.ArgumentParser(prog="todo")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("add")
    p.add_argument("text")
    sub.add_parser("list")
    p = sub.add_parser("done")
    p.add_argument("id", type=int)
    args = parser.parse_args(argv)
    todos = store.load(path)
    if args.command == "add":
        store.save(path, store.add(todos, args.text))
    elif args.command == "done":
        store.save(path, store.mark_done(todos, args.id))
    elif args.command == "list":
        for t in todos:
            print(f"{t['id']}. [{'x' if t['done'] else ' '}] {t['text']}")
    return 0
