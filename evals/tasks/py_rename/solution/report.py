from orders import order_total


def summary(lines):
    """One line describing an order."""
    return f"{len(lines)} lines, total {order_total(lines):.2f}"
