def order_total(lines):
    """Sum price * quantity over (price, quantity) pairs."""
    return sum(price * qty for price, qty in lines)


def with_tax(lines, rate):
    """The total plus tax at `rate` (0.2 means 20%)."""
    return order_total(lines) * (1 + rate)
