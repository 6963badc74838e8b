"""Secrets at rest and in logs (issue 6): the store, its WAL and shared
memory files and the master key file are mode 0600; after a full session
(clients created and rotated, tokens issued, refreshed, revoked,
introspected, checked, and every kind of error) no client secret, access
token, refresh token or master key appears in any log line, in the raw
bytes of the store files, or in anything tokenctl printed except the one
answer that issued that secret. Hashes of them are fine."""

import base64
import json
import os
import stat
import subprocess
import sys
import unittest

os.environ.pop("TOKEND_TEST_POSTGRES", None)  # an SQLite store, always
sys.path.insert(0, os.path.join(os.environ.get("TOKEND_SOURCE", "."),
                                "tests/support"))

from tokend_harness import (TOKENCTL, TokendTestCase,  # noqa: E402
                            basic_header)

STORE_SUFFIXES = ("", "-wal", "-shm")


def forms(secret):
    """The ways a secret could be written down: as is, base64 (a Basic
    header), and for a JWT its signature alone."""
    found = [secret.encode()]
    found.append(base64.b64encode(secret.encode()))
    if secret.count(".") == 2:
        found.append(secret.rsplit(".", 1)[1].encode())
    return found


class SecretsTest(TokendTestCase):

    def setUp(self):
        self.tokend = self.start_tokend("--auth-failure-limit", "0")
        self.printed = []  # everything tokenctl wrote, but issuances
        self.secrets = {}  # what must not leak -> a name for the message

    def tokenctl(self, *args, issues=False, stdin=None):
        result = subprocess.run(
            [TOKENCTL, "--db", self.tokend.db] + list(args),
            capture_output=True, text=True, env=self.tokend.env,
            timeout=30, input=stdin)
        self.assertEqual(result.returncode, 0, result.stderr)
        # The answer that issues a secret shows it, once, by design; its
        # standard error (the audit line) must not.
        self.printed.append(result.stderr)
        if not issues:
            self.printed.append(result.stdout)
        return result.stdout

    def create_client(self, name, **options):
        args = ["client", "create", "--name", name, "--json"]
        for option, value in options.items():
            args += ["--" + option, value]
        client = json.loads(self.tokenctl(*args, issues=True))
        self.secrets[client["client_secret"]] = f"secret of {name}"
        self.tokend.wait_for_client(client)
        return client

    def issue(self, client, **fields):
        body = self.tokend.issue(client, **fields)
        self.secrets[body["access_token"]] = "an access token"
        self.secrets[body["refresh_token"]] = "a refresh token"
        return body

    def refresh(self, client, token):
        answer = self.tokend.refresh(client, token)
        self.assertEqual(answer.status, 200, answer)
        body = answer.json()
        self.secrets[body["access_token"]] = "a refreshed access token"
        self.secrets[body["refresh_token"]] = "a refreshed refresh token"
        return body

    def session(self):
        reader = self.create_client("reader", scope="read write")
        auditor = self.create_client("auditor", permission="introspect")
        first = self.issue(reader, scope="read")
        second = self.issue(reader, basic=False)
        third = self.refresh(reader, self.refresh(reader,
                                                  first["refresh_token"])
                             ["refresh_token"])

        for token in (first["access_token"], third["access_token"]):
            self.assertEqual(self.tokend.check(token).status, 200)
            self.assertEqual(self.tokend.bearer("GET", "/v2/whoami",
                                                token).status, 200)
            self.assertEqual(self.tokend.introspect(auditor, token).status,
                             200)
        self.assertEqual(self.tokend.revoke(reader,
                                            second["refresh_token"]).status,
                         200)
        self.assertEqual(self.tokend.revoke(reader,
                                            first["access_token"]).status,
                         200)
        self.tokenctl("revoke", "-", stdin=third["access_token"])

        # Errors: reuse, a wrong secret, a malformed token, a revoked one.
        reused = self.tokend.refresh(reader, first["refresh_token"])
        self.assertEqual(reused.status, 400)
        wrong = dict(reader, client_secret=reader["client_secret"][::-1])
        self.assertEqual(self.tokend.token(wrong).status, 401)
        self.assertEqual(self.tokend.token(wrong, basic=False).status, 401)
        tampered = first["access_token"][:-4] + "AAAA"
        self.assertEqual(self.tokend.check(tampered).status, 401)
        self.assertEqual(self.tokend.check(first["access_token"]).status,
                         401)
        self.assertEqual(self.tokend.request(
            "POST", "/v2/auth/token", body="grant_type=client_credentials&"
            "client_secret=" + reader["client_secret"],
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "Authorization": basic_header(reader["client_id"],
                                                   reader["client_secret"])})
            .status, 400)

        # A rotated secret: the old one and the new one are both secrets.
        rotated = json.loads(self.tokenctl(
            "client", "rotate-secret", reader["client_id"], "--json",
            issues=True))
        self.secrets[rotated["client_secret"]] = "a rotated secret"
        self.tokenctl("client", "list")
        self.tokenctl("client", "show", reader["client_id"])
        self.tokenctl("client", "revoke-tokens", auditor["client_id"])
        self.tokenctl("keys", "list")

    def master_key(self):
        with open(self.tokend.db + ".master-key") as key_file:
            text = key_file.read().strip()
        self.secrets[text] = "the master key (hex)"
        return bytes.fromhex(text)

    def store_files(self):
        return [self.tokend.db + suffix for suffix in STORE_SUFFIXES
                if os.path.exists(self.tokend.db + suffix)]

    def assert_nothing_leaks(self, when):
        raw_master_key = self.master_key()
        places = {"the log": self.tokend.log_text().encode(),
                  "tokenctl's output": "".join(self.printed).encode()}
        for path in self.store_files():
            with open(path, "rb") as store_file:
                places[os.path.basename(path)] = store_file.read()

        for place, content in places.items():
            self.assertNotIn(raw_master_key, content,
                             f"the raw master key is in {place} ({when})")
            for secret, name in self.secrets.items():
                for form in forms(secret):
                    self.assertNotIn(form, content,
                                     f"{name} is in {place} ({when})")

    def test_files_are_private_and_nothing_leaks(self):
        self.session()
        files = self.store_files() + [self.tokend.db + ".master-key"]
        self.assertIn(self.tokend.db + "-wal", files)
        for path in files:
            mode = stat.S_IMODE(os.stat(path).st_mode)
            self.assertEqual(mode, 0o600, f"{path} is {mode:o}")

        # While tokend runs, the WAL holds the latest writes; after a
        # clean stop they are in the database file.
        self.assert_nothing_leaks("while tokend runs")
        self.tokend.stop()
        self.assert_nothing_leaks("after tokend stopped")
        self.assertGreaterEqual(len(self.secrets), 12)


if __name__ == "__main__":
    unittest.main()
