"""A tiny todo list stored in todo.json next to the current directory."""

import json
import sys
from pathlib import Path

STORE = Path("todo.json")


def load(store=STORE):
    if not store.exists():
        return []
    return json.loads(store.read_text())


def save(items, store=STORE):
    store.write_text(json.dumps(items, indent=2))


def add(text, store=STORE):
    items = load(store)
    items.append({"id": len(items) + 1, "text": text})
    save(items, store)
    return items[-1]


def render(items):
    return "\n".join(f"{item['id']}. {item['text']}" for item in items)


def main(argv):
    if len(argv) >= 2 and argv[0] == "add":
        item = add(" ".join(argv[1:]))
        print(f"added {item['id']}")
    elif argv == ["list"]:
        print(render(load()))
    else:
        print("usage: todo.py add TEXT | list", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
