"""Valgrind memcheck (issue 6): tokend runs a short session under
valgrind (tokens by both authentication methods, refresh, reuse,
revocation, introspection, the gateway check, whoami, and errors) and is
stopped with SIGTERM; tokenctl runs its commands under it too; and every
unit test program runs under it. None may have a memcheck error or a
definitely lost block. Skipped in an AddressSanitizer build, which
valgrind cannot run, and where valgrind is not installed."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

os.environ.pop("TOKEND_TEST_POSTGRES", None)  # an SQLite store, always
sys.path.insert(0, os.path.join(os.environ.get("TOKEND_SOURCE", "."),
                                "tests/support"))

from tokend_harness import (SOURCE, TOKEND, TOKENCTL,  # noqa: E402
                            Tokend, TokendTestCase, remove_test_folder)

VALGRIND = shutil.which("valgrind")
ERROR_EXIT = 99
# Unit tests that need a PostgreSQL cluster run in the postgres/ pass.
NEEDS_POSTGRES = re.compile(r"postgres")


def valgrind_command(log_path):
    return [VALGRIND, "--leak-check=full", "--show-leak-kinds=definite",
            "--errors-for-leak-kinds=definite",
            f"--error-exitcode={ERROR_EXIT}", "--num-callers=30",
            f"--log-file={log_path}"]


def is_sanitized(program):
    result = subprocess.run(["ldd", program], capture_output=True, text=True)
    return "libasan" in result.stdout


def summary(log_path):
    """The error count and the definitely lost bytes of a valgrind log."""
    with open(log_path, encoding="utf-8", errors="replace") as log:
        text = log.read()
    errors = re.findall(r"ERROR SUMMARY: ([\d,]+) errors", text)
    lost = re.findall(r"definitely lost: ([\d,]+) bytes", text)
    count = int(errors[-1].replace(",", "")) if errors else None
    lost_bytes = int(lost[-1].replace(",", "")) if lost else 0
    return count, lost_bytes, text


@unittest.skipIf(VALGRIND is None, "valgrind is not installed")
@unittest.skipIf(is_sanitized(TOKEND), "valgrind cannot run an ASan build")
class ValgrindTest(TokendTestCase):

    def assert_clean_log(self, log_path, what):
        count, lost, text = summary(log_path)
        self.assertEqual(count, 0, f"{what}: memcheck errors:\n{text[-6000:]}")
        self.assertEqual(lost, 0, f"{what}: definitely lost:\n{text[-6000:]}")

    def tokenctl(self, tokend, *args, stdin=None):
        log_path = os.path.join(tokend.folder, "valgrind-tokenctl.log")
        result = subprocess.run(
            valgrind_command(log_path) + [TOKENCTL, "--db", tokend.db] +
            list(args), capture_output=True, text=True, env=tokend.env,
            timeout=120, input=stdin)
        self.assertEqual(result.returncode, 0,
                         f"tokenctl {args}: {result.stderr}")
        self.assert_clean_log(log_path, f"tokenctl {' '.join(args[:2])}")
        return result.stdout

    def session(self, tokend):
        client = json.loads(self.tokenctl(
            tokend, "client", "create", "--name", "memcheck", "--scope",
            "read write", "--permission", "introspect", "--json"))
        tokend.wait_for_client(client, timeout=60)
        self.tokenctl(tokend, "client", "list")

        issued = tokend.issue(client, scope="read")
        tokend.issue(client, basic=False)
        refreshed = tokend.refresh(client, issued["refresh_token"])
        self.assertEqual(refreshed.status, 200, refreshed)
        self.assertEqual(tokend.refresh(client, issued["refresh_token"])
                         .status, 400)
        access = refreshed.json()["access_token"]
        self.assertEqual(tokend.check(access, scope="read").status, 200)
        self.assertEqual(tokend.check(access, scope="admin").status, 403)
        self.assertEqual(tokend.bearer("GET", "/v2/whoami", access).status,
                         200)
        self.assertEqual(tokend.introspect(client, access).status, 200)
        self.assertEqual(tokend.revoke(client, access).status, 200)
        self.assertEqual(tokend.revoke(
            client, refreshed.json()["refresh_token"]).status, 200)
        self.tokenctl(tokend, "revoke", "-", stdin=issued["access_token"])
        self.assertEqual(tokend.request("GET", "/.well-known/jwks.json")
                         .status, 200)

        wrong = dict(client, client_secret="0" * 64)
        self.assertEqual(tokend.token(wrong).status, 401)
        self.assertEqual(tokend.post_form("/v2/auth/token", "a=%zz").status,
                         400)
        self.assertEqual(tokend.post_form("/v2/auth/token",
                                          "a=" + "x" * 9000).status, 413)
        self.assertEqual(tokend.bearer("GET", "/v2/whoami", "x.y.z").status,
                         401)
        self.assertEqual(tokend.request("GET", "/nowhere").status, 404)
        self.assertEqual(tokend.request("PUT", "/v2/auth/token").status, 405)

    def test_tokend_session_under_memcheck(self):
        folder = tempfile.mkdtemp(prefix="tokend-test-")
        self.addCleanup(remove_test_folder, folder)
        log_path = os.path.join(folder, "valgrind-tokend.log")
        tokend = Tokend("--auth-failure-limit", "0", "--threads", "2",
                        folder=folder, prefix=valgrind_command(log_path))
        self.addCleanup(tokend.stop, signal.SIGKILL)
        tokend.start(timeout=120)

        self.session(tokend)
        code = tokend.stop(signal.SIGTERM, timeout=180)
        self.assert_clean_log(log_path, "tokend")
        self.assertEqual(code, 0, "tokend did not stop cleanly")

    def test_unit_tests_under_memcheck(self):
        build = os.path.dirname(os.path.abspath(TOKEND))
        sources = sorted(name[:-2] for name in
                         os.listdir(os.path.join(SOURCE, "tests", "unit"))
                         if name.startswith("test_") and name.endswith(".c"))
        ran = 0
        for name in sources:
            program = os.path.join(build, name)
            if NEEDS_POSTGRES.search(name) or not os.path.exists(program):
                continue
            with self.subTest(unit=name):
                log_path = os.path.join(build, f"valgrind-{name}.log")
                result = subprocess.run(
                    valgrind_command(log_path) + [program],
                    capture_output=True, text=True, timeout=600, cwd=build)
                self.assertEqual(result.returncode, 0,
                                 f"{name}:\n{result.stdout[-3000:]}")
                self.assert_clean_log(log_path, name)
                os.remove(log_path)
                ran += 1
        self.assertGreater(ran, 5, "the unit test programs were not found")


if __name__ == "__main__":
    unittest.main()
