from .models import User

_users = []


def create_user(name, email):
    user = User(name.strip(), email.strip().lower())
    _users.append(user)
    return user


def all_users():
    return list(_users)
