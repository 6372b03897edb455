"""Word statistics for plain text."""


def words(text):
    """The words of `text`, lower-cased: runs of letters and apostrophes."""
    out = []
    current = ""
    for ch in text.lower():
        if ch.isalpha() or ch == "'":
            current += ch
        elif current:
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return out


def top_words(text, n):
    """The `n` most frequent words of `text` as (word, count) pairs, most frequent first; words with the same
    count in alphabetical order. Fewer than `n` pairs when the text has fewer distinct words."""
    raise NotImplementedError
