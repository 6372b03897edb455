import unittest

from batching import chunks


class ChunksTest(unittest.TestCase):
    def test_even(self):
        self.assertEqual(chunks([1, 2, 3, 4], 2), [[1, 2], [3, 4]])

    def test_remainder(self):
        self.assertEqual(chunks([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]])

    def test_shorter_than_size(self):
        self.assertEqual(chunks([1, 2], 5), [[1, 2]])

    def test_empty(self):
        self.assertEqual(chunks([], 3), [])


if __name__ == "__main__":
    unittest.main()
