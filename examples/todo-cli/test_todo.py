import tempfile
import unittest
from pathlib import Path

import todo


class TodoTest(unittest.TestCase):
    def test_add_and_render(self):
        with tempfile.TemporaryDirectory() as d:
            store = Path(d) / "todo.json"
            todo.add("buy milk", store)
            todo.add("call mum", store)
            self.assertEqual(todo.render(todo.load(store)), "1. buy milk\n2. call mum")


if __name__ == "__main__":
    unittest.main()
