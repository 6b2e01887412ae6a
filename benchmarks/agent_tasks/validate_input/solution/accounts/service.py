from .models import User

_users = []


def create_user(name, email):
    if not name.strip():
        raise ValueError("name must not be empty")
    if "@" not in email:
        raise ValueError("email must contain @")
    user = User(name.strip(), email.strip().lower())
    _users.append(user)
    return user


def all_users():
    return list(_users)
