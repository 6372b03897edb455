"""Count the words of a text file: python3 wc.py FILE"""
import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(description="Count words in a file.")
    parser.add_argument("path", help="the file to count")
    args = parser.parse_args(argv)
    with open(args.path, encoding="utf-8") as f:
        text = f.read()
    print(len(text.split()))


if __name__ == "__main__":
    main()
