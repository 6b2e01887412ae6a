def count(text):
    """Lines, words and characters of text."""
    return {"lines": len(text.splitlines()), "words": len(text.split()), "chars": len(text)}
