import os
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

    def test_done_marks_an_item_and_render_shows_it(self):
        with tempfile.TemporaryDirectory() as d:
            store = Path(d) / "todo.json"
            todo.add("buy milk", store)
            todo.add("call mum", store)
            todo.done(1, store)
            self.assertIs(todo.load(store)[0]["done"], True)
            self.assertEqual(todo.render(todo.load(store)), "1. [x] buy milk\n2. call mum")

    def test_the_done_command(self):
        cwd = os.getcwd()
        with tempfile.TemporaryDirectory() as d:
            os.chdir(d)
            try:
                todo.main(["add", "buy milk"])
                self.assertEqual(todo.main(["done", "1"]), 0)
                self.assertEqual(todo.render(todo.load()), "1. [x] buy milk")
            finally:
                os.chdir(cwd)


if __name__ == "__main__":
    unittest.main()
