import unittest

import stats


class StatsTest(unittest.TestCase):
    def test_mean(self):
        self.assertEqual(stats.mean([1, 2, 3, 4]), 2.5)

    def test_median_odd(self):
        self.assertEqual(stats.median([5, 1, 3]), 3)

    def test_median_even(self):
        self.assertEqual(stats.median([4, 1, 3, 2]), 2.5)
        self.assertEqual(stats.median([10, 20]), 15)

    def test_mode_ties_go_to_smallest(self):
        self.assertEqual(stats.mode([3, 1, 3, 1, 2]), 1)

    def test_stdev(self):
        self.assertEqual(stats.stdev([2, 4, 4, 4, 5, 5, 7, 9]), 2.0)

    def test_summary(self):
        self.assertEqual(
            stats.summary([1, 2, 3, 4]),
            {"mean": 2.5, "median": 2.5, "mode": 1, "stdev": 1.118, "range": 3},
        )

    def test_empty(self):
        with self.assertRaises(stats.EmptyDataError):
            stats.median([])


if __name__ == "__main__":
    unittest.main()
