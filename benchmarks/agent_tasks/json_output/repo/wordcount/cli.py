import argparse
import sys

from .core import count


def main(argv=None):
    parser = argparse.ArgumentParser(prog="wordcount")
    parser.add_argument("file")
    parser.add_argument("--words-only", action="store_true")
    args = parser.parse_args(argv)
    with open(args.file, encoding="utf-8") as f:
        counts = count(f.read())
    if args.words_only:
        print(counts["words"])
        return 0
    for key in ("lines", "words", "chars"):
        print(f"{key:>6}: {counts[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
