import pytest
from accounts.service import create_user


def test_create_user():
    user = create_user(" Ann ", "Ann@Example.com")
    assert user.name == "Ann" and user.email == "ann@example.com"


def test_empty_name():
    with pytest.raises(ValueError):
        create_user("  ", "x@y.z")


def test_bad_email():
    with pytest.raises(ValueError):
        create_user("Bob", "bob.example.com")
