"""docs/configuration.md must list every setting that `tokend --help`
prints, with the same environment variable and default."""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.environ.get("TOKEND_SOURCE", "."),
                                "tests/support"))
from tokend_harness import SOURCE, TOKEND  # noqa: E402


class ConfigurationDocs(unittest.TestCase):
    def test_every_setting_is_documented(self):
        help_text = subprocess.run([TOKEND, "--help"], capture_output=True,
                                   text=True, check=True).stdout
        settings = re.findall(
            r"^  --([a-z-]+) \((TOKEND_[A-Z_]+)\)\n(?:      (?!default).*\n)*"
            r"      default: ([^,\n]+)", help_text, re.M)
        self.assertGreater(len(settings), 15)

        with open(os.path.join(SOURCE, "docs/configuration.md")) as page:
            doc = page.read()
        rows = {}
        for line in doc.splitlines():
            cells = [c.strip().strip("`") for c in line.split("|")]
            if len(cells) > 4 and re.match(r"--[a-z]", cells[1]):
                rows[cells[1]] = cells
        for flag, variable, default in settings:
            with self.subTest(flag=flag):
                self.assertIn("--" + flag, rows)
                self.assertEqual(rows["--" + flag][2], variable)
                if default != "(derived)":
                    self.assertEqual(rows["--" + flag][3], default)
        self.assertEqual(len(rows), len(settings),
                         "the doc lists a setting the code does not have")

    def test_help_fits_in_80_columns(self):
        help_text = subprocess.run([TOKEND, "--help"], capture_output=True,
                                   text=True, check=True).stdout
        for line in help_text.splitlines():
            self.assertLessEqual(len(line), 80, line)

    def test_bad_values_are_refused_at_start(self):
        for args in (["--access-token-ttl", "5"], ["--threads", "abc"],
                     ["--no-such-flag", "1"], ["--listen"]):
            with self.subTest(args=args):
                result = subprocess.run([TOKEND] + args, capture_output=True,
                                        text=True, timeout=10)
                self.assertEqual(result.returncode, 2)
                self.assertIn("tokend:", result.stderr)


if __name__ == "__main__":
    unittest.main()
