import pathlib
import subprocess
import sys
import tempfile
import unittest

HERE = pathlib.Path(__file__).parent


def run(*args):
    return subprocess.run(
        [sys.executable, str(HERE / "wc.py"), *args], capture_output=True, text=True
    )


class WcTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
        self.tmp.write("one two three\nfour five\nsix\n")
        self.tmp.close()

    def test_words(self):
        out = run(self.tmp.name)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), "6")

    def test_lines(self):
        out = run("--lines", self.tmp.name)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), "3")


if __name__ == "__main__":
    unittest.main()
