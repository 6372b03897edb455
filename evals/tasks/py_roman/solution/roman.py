def to_roman(n):
    """Return the Roman numeral for an integer n with 1 <= n <= 3999.

    Uses the subtractive forms IV, IX, XL, XC, CD and CM, so 4 is 'IV' and
    1994 is 'MCMXCIV'. Raise ValueError for n outside 1..3999.
    """
    if not 1 <= n <= 3999:
        raise ValueError(n)
    table = [
        (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"),
        (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
        (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
    ]
    out = []
    for value, numeral in table:
        while n >= value:
            out.append(numeral)
            n -= value
    return "".join(out)
