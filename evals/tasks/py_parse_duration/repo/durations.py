"""Durations written the way people write them: "1h30m", "45s", "2d"."""

UNITS = {
    "d": 86400,
    "h": 3600,
    "m": 60,
    "s": 1,
}

ORDER = ["d", "h", "m", "s"]


class DurationError(ValueError):
    """Raised for text that is not a duration."""


def format_duration(seconds):
    """Write a whole number of seconds as the shortest text, largest unit first.

    >>> format_duration(5400)
    '1h30m'
    >>> format_duration(0)
    '0s'
    """
    if seconds < 0:
        raise DurationError("negative duration")
    if seconds == 0:
        return "0s"
    parts = []
    for unit in ORDER:
        count, seconds = divmod(seconds, UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_duration(text):
    """Parse a duration such as "1h30m" into a whole number of seconds.

    The text is one or more parts, each a number followed by a unit: d (days),
    h (hours), m (minutes) or s (seconds), for example "2d", "1h30m", "90s".
    Spaces around the text are ignored; units are case-insensitive ("1H" is 3600).
    Raise DurationError for empty text, a number without a unit ("10"), an
    unknown unit ("3w"), or a unit without a number ("h").

    >>> parse_duration("1h30m")
    5400
    """
    raise NotImplementedError


def add_durations(*texts):
    """Sum several durations and write the total back as text."""
    return format_duration(sum(parse_duration(t) for t in texts))


def compare(a, b):
    """-1, 0 or 1 as duration a is shorter than, equal to or longer than b."""
    x, y = parse_duration(a), parse_duration(b)
    return (x > y) - (x < y)


def main(argv):
    """Print the sum of the durations given on the command line."""
    if not argv:
        print("usage: durations.py DURATION...")
        return 2
    try:
        print(add_durations(*argv))
    except DurationError as err:
        print(f"error: {err}")
        return 1
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
