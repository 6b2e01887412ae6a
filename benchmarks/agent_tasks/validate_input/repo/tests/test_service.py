from accounts.service import create_user


def test_create_user():
    user = create_user(" Ann ", "Ann@Example.com")
    assert user.name == "Ann" and user.email == "ann@example.com"
