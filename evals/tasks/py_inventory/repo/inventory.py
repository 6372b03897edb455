class Inventory:
    """Counts of items in stock, by name."""

    def __init__(self):
        self.items = {}

    def add(self, name, qty=1):
        """Put qty more of `name` in stock."""
        if qty < 1:
            raise ValueError("qty must be positive")
        self.items[name] = self.items.get(name, 0) + qty

    def count(self, name):
        """How many of `name` are in stock (0 if none)."""
        return self.items.get(name, 0)
