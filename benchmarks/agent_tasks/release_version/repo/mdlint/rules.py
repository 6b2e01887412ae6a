def trailing_spaces(lines):
    return [n for n, line in enumerate(lines, 1) if line.rstrip("\n") != line.rstrip()]
