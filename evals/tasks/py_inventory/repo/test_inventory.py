import unittest

from inventory import Inventory


class InventoryTest(unittest.TestCase):
    def setUp(self):
        self.inv = Inventory()
        self.inv.add("apple", 5)

    def test_add(self):
        self.inv.add("apple", 2)
        self.assertEqual(self.inv.count("apple"), 7)

    def test_remove(self):
        self.inv.remove("apple", 3)
        self.assertEqual(self.inv.count("apple"), 2)

    def test_remove_all_deletes(self):
        self.inv.remove("apple", 5)
        self.assertNotIn("apple", self.inv.items)

    def test_remove_unknown(self):
        with self.assertRaises(KeyError):
            self.inv.remove("pear", 1)

    def test_remove_too_many(self):
        with self.assertRaises(ValueError):
            self.inv.remove("apple", 6)
        self.assertEqual(self.inv.count("apple"), 5)


if __name__ == "__main__":
    unittest.main()
