"""Count the words of a text file: python3 wc.py [--lines] FILE"""
import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(description="Count words in a file.")
    parser.add_argument("path", help="the file to count")
    parser.add_argument("--lines", action="store_true", help="count lines instead of words")
    args = parser.parse_args(argv)
    with open(args.path, encoding="utf-8") as f:
        text = f.read()
    if args.lines:
        print(len(text.splitlines()))
    else:
        print(len(text.split()))


if __name__ == "__main__":
    main()
