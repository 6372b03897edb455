"""Small descriptive statistics over lists of numbers, without numpy."""

import math


class EmptyDataError(ValueError):
    """Raised when a statistic is asked of no data."""


def _require(data):
    if not data:
        raise EmptyDataError("no data")
    return list(data)


def mean(data):
    """The arithmetic mean."""
    values = _require(data)
    return sum(values) / len(values)


def median(data):
    """The middle value; for an even count, the mean of the two middle values."""
    values = sorted(_require(data))
    n = len(values)
    mid = n // 2
    if n % 2 == 1:
        return values[mid]
    return (values[mid - 1] + values[mid]) / 2


def mode(data):
    """The most common value; ties go to the smallest."""
    values = _require(data)
    counts = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    best = max(counts.values())
    return min(v for v, c in counts.items() if c == best)


def variance(data):
    """The population variance."""
    values = _require(data)
    m = mean(values)
    return sum((v - m) ** 2 for v in values) / len(values)


def stdev(data):
    """The population standard deviation."""
    return math.sqrt(variance(data))


def value_range(data):
    """The largest value minus the smallest."""
    values = _require(data)
    return max(values) - min(values)


def summary(data):
    """A dict of every statistic above, rounded to 3 places."""
    return {
        "mean": round(mean(data), 3),
        "median": round(median(data), 3),
        "mode": mode(data),
        "stdev": round(stdev(data), 3),
        "range": value_range(data),
    }
