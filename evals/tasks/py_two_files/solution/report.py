"""A summary of a drawing's shapes."""
from shapes import Circle, Rect, Square

# How each kind of shape is parsed from a line such as "circle 2" or "rect 3 4".
PARSERS = {
    "circle": lambda args: Circle(float(args[0])),
    "rect": lambda args: Rect(float(args[0]), float(args[1])),
    "square": lambda args: Square(float(args[0])),
}


def parse(lines):
    """The shapes described by `lines`, one per non-empty line."""
    shapes = []
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        kind, args = parts[0], parts[1:]
        if kind not in PARSERS:
            raise ValueError(f"unknown shape: {kind}")
        shapes.append(PARSERS[kind](args))
    return shapes


def summary(shapes):
    """Counts per kind, in the order of PARSERS, and the total area: `circle: 1, rect: 2; area 12.00`."""
    counts = ", ".join(f"{kind}: {sum(1 for s in shapes if s.kind == kind)}" for kind in PARSERS)
    total = sum(s.area() for s in shapes)
    return f"{counts}; area {total:.2f}"
