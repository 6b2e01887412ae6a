import ast

import pytest
from accounts.service import create_user


@pytest.mark.parametrize("name,email", [("", "a@b.c"), ("   ", "a@b.c"), ("Bob", "bob.example.com")])
def test_rejects(name, email):
    with pytest.raises(ValueError):
        create_user(name, email)


def test_accepts():
    assert create_user("Bob", "bob@example.com").name == "Bob"


def test_tests_were_added():
    tree = ast.parse(open("tests/test_service.py").read())
    tests = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    assert len(tests) >= 2 and "ValueError" in open("tests/test_service.py").read()
