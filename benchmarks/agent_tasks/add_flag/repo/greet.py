import argparse


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    args = parser.parse_args(argv)
    greeting = f"Hello, {args.name}!"
    return greeting


if __name__ == "__main__":
    print(main())
