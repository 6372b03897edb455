def to_roman(n):
    """Return the Roman numeral for an integer n with 1 <= n <= 3999.

    Uses the subtractive forms IV, IX, XL, XC, CD and CM, so 4 is 'IV' and
    1994 is 'MCMXCIV'. Raise ValueError for n outside 1..3999.
    """
    raise NotImplementedError
