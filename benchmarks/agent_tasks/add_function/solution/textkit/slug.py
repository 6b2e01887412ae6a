"""URL slugs."""


def slugify(text):
    return "-".join(text.lower().split())
