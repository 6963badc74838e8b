"""grant_type=refresh_token against the real tokend: the platform's
documented call (also through the curl binary, verbatim), rotation, reuse
detection that revokes the family (RFC 9700 §4.14.2), binding to the
client, expiry, tampering, scope narrowing and concurrent refreshes."""

import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.environ.get("TOKEND_SOURCE", "."),
                                "tests/support"))

from tokend_harness import (TokendTestCase, in_parallel,  # noqa: E402
                            jwt_parts, wait_until)


class RefreshTest(TokendTestCase):

    @classmethod
    def setUpClass(cls):
        cls.tokend = cls.start_class_tokend("--auth-failure-limit", "0")
        cls.client = cls.tokend.create_client("refresher", scope="read write")
        cls.other = cls.tokend.create_client("someone else",
                                             scope="read write")

    def refresh_token(self, client=None, **fields):
        return self.tokend.issue(client or self.client,
                                 **fields)["refresh_token"]

    def assert_refreshed(self, answer, scope=None):
        self.assertEqual(answer.status, 200, answer)
        self.assert_no_store(answer)
        body = answer.json()
        self.assertEqual(body["token_type"], "bearer")
        self.assertEqual(body["expires_in"], 3600)
        self.assertTrue(body["access_token"])
        self.assertTrue(body["refresh_token"])
        if scope is not None:
            self.assertEqual(body["scope"], scope)
        return body

    def assert_invalid_grant(self, answer):
        return self.assert_oauth_error(answer, 400, "invalid_grant")

    def test_documented_call(self):
        # The platform's example: every field in the body, nothing else.
        old = self.refresh_token()
        body = self.assert_refreshed(self.tokend.post_form(
            "/v2/auth/token", [("grant_type", "refresh_token"),
                               ("refresh_token", old),
                               ("client_id", self.client["client_id"]),
                               ("client_secret",
                                self.client["client_secret"])]))
        self.assertNotEqual(body["refresh_token"], old)
        claims = jwt_parts(body["access_token"])[1]
        self.assertEqual(claims["client_id"], self.client["client_id"])
        self.assertEqual(sorted(claims["scope"].split()), ["read", "write"])
        whoami = self.tokend.bearer("GET", "/v2/whoami",
                                    body["access_token"])
        self.assertEqual(whoami.status, 200, whoami)

    def test_documented_call_with_curl(self):
        old = self.refresh_token()
        command = [
            "curl", "--location", "--request", "POST",
            self.tokend.url("/v2/auth/token"),
            "--header", "Content-Type: application/x-www-form-urlencoded",
            "--data-urlencode", "grant_type=refresh_token",
            "--data-urlencode", "refresh_token=" + old,
            "--data-urlencode", "client_id=" + self.client["client_id"],
            "--data-urlencode",
            "client_secret=" + self.client["client_secret"],
        ]
        result = subprocess.run(command, capture_output=True, timeout=20)
        self.assertEqual(result.returncode, 0, result.stderr)
        body = json.loads(result.stdout)
        self.assertEqual(body["token_type"], "bearer", body)
        self.assertEqual(body["expires_in"], 3600)
        self.assertNotEqual(body["refresh_token"], old)
        # The old one is spent now.
        self.assert_invalid_grant(self.tokend.refresh(self.client, old))

    def test_refresh_with_basic_authentication(self):
        answer = self.tokend.refresh(self.client, self.refresh_token(),
                                     basic=True)
        self.assert_refreshed(answer)

    def test_rotation(self):
        first = self.refresh_token()
        second = self.assert_refreshed(
            self.tokend.refresh(self.client, first))["refresh_token"]
        third = self.assert_refreshed(
            self.tokend.refresh(self.client, second))["refresh_token"]
        self.assertEqual(len({first, second, third}), 3)
        self.assert_invalid_grant(self.tokend.refresh(self.client, second))

    def test_reuse_revokes_the_family(self):
        first = self.refresh_token()
        second = self.assert_refreshed(
            self.tokend.refresh(self.client, first))["refresh_token"]
        newest = self.assert_refreshed(
            self.tokend.refresh(self.client, second))["refresh_token"]

        self.assert_invalid_grant(self.tokend.refresh(self.client, first))
        # The thief or the client holds newest; nobody can tell which, so
        # it dies with the family.
        self.assert_invalid_grant(self.tokend.refresh(self.client, newest))
        self.assert_invalid_grant(self.tokend.refresh(self.client, second))
        reuse = self.tokend.log_records_where(
            msg="refresh token reused, family revoked",
            client_id=self.client["client_id"])
        self.assertTrue(reuse, "no audit line for the reuse")

        # Other families of the same client live on.
        self.assert_refreshed(self.tokend.refresh(self.client,
                                                  self.refresh_token()))

    def test_another_clients_refresh_token(self):
        mine = self.refresh_token()
        self.assert_invalid_grant(self.tokend.refresh(self.other, mine))
        self.assert_invalid_grant(self.tokend.refresh(self.other, mine,
                                                      basic=True))
        # The failed theft neither used nor revoked it.
        self.assert_refreshed(self.tokend.refresh(self.client, mine))

    def test_garbage_and_tampered_tokens(self):
        good = self.refresh_token()
        middle = len(good) // 2
        flipped = "A" if good[middle] != "A" else "B"
        tampered = [good[:middle] + flipped + good[middle + 1:],
                    good[:-1] + ("A" if good[-1] != "A" else "B"),
                    good + "A", good[:-4]]
        for token in ["garbage", "x" * 300, "a.b.c", "%%%",
                      self.tokend.issue(self.client)["access_token"]] + \
                tampered:
            with self.subTest(token=token[:40]):
                self.assert_invalid_grant(self.tokend.refresh(self.client,
                                                              token))
        # None of that spent the genuine token.
        self.assert_refreshed(self.tokend.refresh(self.client, good))

    def test_missing_refresh_token(self):
        answer = self.tokend.token(self.client, basic=False,
                                   grant_type="refresh_token")
        self.assert_oauth_error(answer, 400, "invalid_request")

    def test_narrowing_scope(self):
        body = self.assert_refreshed(
            self.tokend.refresh(self.client, self.refresh_token(),
                                scope="read"), scope="read")
        self.assertEqual(jwt_parts(body["access_token"])[1]["scope"], "read")
        # The narrowed grant is what the next refresh carries on.
        again = self.assert_refreshed(
            self.tokend.refresh(self.client, body["refresh_token"]))
        self.assertEqual(jwt_parts(again["access_token"])[1]["scope"],
                         "read")

    def test_widening_scope(self):
        token = self.refresh_token()
        for scope in ["read write admin", "admin"]:
            with self.subTest(scope=scope):
                self.assert_oauth_error(
                    self.tokend.refresh(self.client, token, scope=scope),
                    400, "invalid_scope")
        # A grant of read alone cannot become write on refresh.
        narrow = self.refresh_token(scope="read")
        self.assert_oauth_error(
            self.tokend.refresh(self.client, narrow, scope="write"), 400,
            "invalid_scope")
        # A refused request does not spend the token.
        self.assert_refreshed(self.tokend.refresh(self.client, token))

    def test_deleted_client_takes_its_refresh_tokens(self):
        doomed = self.tokend.create_client("doomed")
        rotated = self.assert_refreshed(
            self.tokend.refresh(doomed, self.refresh_token(doomed)))
        where = f"client_id = '{doomed['client_id']}'"
        self.assertEqual(self.tokend.row_count("refresh_families", where), 1)

        self.tokend.tokenctl("client", "delete", doomed["client_id"])
        self.assertEqual(self.tokend.row_count("refresh_families", where), 0)

        # Before tokend's cache has seen the deletion, a refresh must still
        # be refused as a client error (invalid_grant), never a 500; once
        # it has (within 1 s), the credentials themselves are unknown.
        def refused_as_unknown_client():
            answer = self.tokend.refresh(doomed, rotated["refresh_token"])
            self.assertIn(answer.status, (400, 401), answer)
            if answer.status == 400:
                self.assert_invalid_grant(answer)
            return answer if answer.status == 401 else None

        answer, _ = wait_until(refused_as_unknown_client, timeout=1.5)
        self.assertIsNotNone(answer, "the deleted client still works")
        self.assert_invalid_client(answer)

    def test_concurrent_refreshes_of_one_token(self):
        token = self.refresh_token()
        answers = in_parallel(
            lambda: self.tokend.refresh(self.client, token), 20)
        self.assertEqual(len(answers), 20)
        statuses = sorted(answer.status for answer in answers)
        self.assertEqual(statuses.count(200), 1, statuses)
        for answer in answers:
            if answer.status != 200:
                self.assert_invalid_grant(answer)


class RefreshExpiryTest(TokendTestCase):

    def test_expired_refresh_token(self):
        tokend = self.start_tokend("--refresh-token-ttl", "10",
                                   "--access-token-ttl", "10")
        client = tokend.create_client("expiring")
        issued_at = time.time()
        token = tokend.issue(client)["refresh_token"]
        rotated = tokend.issue(client)["refresh_token"]
        # A rotated family (a stored row) and a fresh one both expire.
        rotated = tokend.refresh(client, rotated).json()["refresh_token"]
        time.sleep(max(0, issued_at + 11.2 - time.time()))
        for expired in (token, rotated):
            answer = tokend.refresh(client, expired)
            self.assert_oauth_error(answer, 400, "invalid_grant")


if __name__ == "__main__":
    unittest.main()
