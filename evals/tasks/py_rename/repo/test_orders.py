import pathlib
import unittest

import orders
import report

OLD_NAME = "calc" + "_total"


class RenameTest(unittest.TestCase):
    def test_new_name(self):
        self.assertEqual(orders.order_total([(2.0, 3), (1.5, 2)]), 9.0)

    def test_callers_still_work(self):
        self.assertAlmostEqual(orders.with_tax([(10.0, 1)], 0.5), 15.0)
        self.assertEqual(report.summary([(2.0, 3)]), "1 lines, total 6.00")

    def test_old_name_gone(self):
        for path in pathlib.Path(__file__).parent.glob("*.py"):
            self.assertNotIn(OLD_NAME, path.read_text(), path.name)


if __name__ == "__main__":
    unittest.main()
