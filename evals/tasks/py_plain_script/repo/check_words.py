# Plain checks, run with: python3 check_words.py
from words import top_words, words


def check_words():
    assert words("It's a cat, a CAT!") == ["it's", "a", "cat", "a", "cat"]


def check_top_words_orders_by_count():
    assert top_words("b a b c b a", 2) == [("b", 3), ("a", 2)]


def check_ties_are_alphabetical():
    assert top_words("pear apple fig", 3) == [("apple", 1), ("fig", 1), ("pear", 1)]


def check_fewer_words_than_asked():
    assert top_words("one one", 5) == [("one", 2)]
    assert top_words("", 3) == []


if __name__ == "__main__":
    checks = [check_words, check_top_words_orders_by_count, check_ties_are_alphabetical, check_fewer_words_than_asked]
    for check in checks:
        check()
        print("ok", check.__name__)
    print(f"{len(checks)} checks passed")
