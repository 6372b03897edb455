from orders import calc_total


def summary(lines):
    """One line describing an order."""
    return f"{len(lines)} lines, total {calc_total(lines):.2f}"
