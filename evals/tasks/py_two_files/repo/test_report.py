import unittest

from report import parse, summary
from shapes import Square


class ReportTest(unittest.TestCase):
    def test_square_area(self):
        self.assertEqual(Square(3).area(), 9)
        self.assertEqual(Square(3).kind, "square")

    def test_parse_reads_squares(self):
        shapes = parse(["square 2", "rect 1 2", ""])
        self.assertEqual([s.kind for s in shapes], ["square", "rect"])

    def test_summary_counts_squares(self):
        shapes = parse(["rect 2 3", "square 2", "square 1"])
        self.assertEqual(summary(shapes), "circle: 0, rect: 1, square: 2; area 11.00")

    def test_unknown_shapes_are_refused(self):
        with self.assertRaises(ValueError):
            parse(["hexagon 1"])


if __name__ == "__main__":
    unittest.main()
