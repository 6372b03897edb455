import unittest

from convert import to_celsius, to_fahrenheit


class ConvertTest(unittest.TestCase):
    def test_freezing(self):
        self.assertEqual(to_fahrenheit(0), 32)

    def test_boiling(self):
        self.assertEqual(to_fahrenheit(100), 212)

    def test_round_trip(self):
        for c in (-40, 0, 37, 100):
            self.assertAlmostEqual(to_celsius(to_fahrenheit(c)), c)


if __name__ == "__main__":
    unittest.main()
