from textutils.strings import shout


def banner(s):
    line = "=" * (len(s) + 1)
    return f"{line}\n{shout(s)}\n{line}"
