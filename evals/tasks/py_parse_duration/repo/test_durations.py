import unittest

from durations import DurationError, add_durations, compare, parse_duration


class ParseTest(unittest.TestCase):
    def test_single_units(self):
        self.assertEqual(parse_duration("45s"), 45)
        self.assertEqual(parse_duration("2m"), 120)
        self.assertEqual(parse_duration("1h"), 3600)
        self.assertEqual(parse_duration("2d"), 172800)

    def test_several_parts(self):
        self.assertEqual(parse_duration("1h30m"), 5400)
        self.assertEqual(parse_duration("1d2h3m4s"), 93784)

    def test_spaces_and_case(self):
        self.assertEqual(parse_duration("  1H30M "), 5400)

    def test_errors(self):
        for bad in ["", "10", "3w", "h", "1h30"]:
            with self.subTest(bad=bad):
                with self.assertRaises(DurationError):
                    parse_duration(bad)

    def test_helpers_use_it(self):
        self.assertEqual(add_durations("1h", "30m", "30m"), "2h")
        self.assertEqual(compare("90s", "1m"), 1)


if __name__ == "__main__":
    unittest.main()
