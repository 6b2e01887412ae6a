import json
from pathlib import Path


def load(path):
    p = Path(path)
    return json.loads(p.read_text()) if p.exists() else []


def save(path, todos):
    Path(path).write_text(json.dumps(todos))


def add(todos, text):
    todos.append({"id": len(todos) + 1, "text": text, "done": False})
    return todos
