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

    def remove(self, name, qty=1):
        """Take qty of `name` out of stock; delete it when none are left."""
        if name not in self.items:
            raise KeyError(name)
        if self.items[name] < qty:
            raise ValueError(f"only {self.items[name]} {name} in stock")
        self.items[name] -= qty
        if self.items[name] == 0:
            del self.items[name]
