"""Errors never leak internals (issue 6): malformed input to every endpoint
(bodies, escapes, headers, tokens, injection and traversal strings, huge
values, wrong methods and paths) gets a client error whose body holds no
SQL, no "sqlite", no file path, no pointer or stack text; and when the
store itself fails (its write lock held by another process), the 503 says
so in tokend's own words, while the store's message goes to the log only."""

import base64
import json
import os
import re
import sqlite3
import sys
import threading
import time
import unittest
import urllib.parse

os.environ.pop("TOKEND_TEST_POSTGRES", None)  # an SQLite store, always
sys.path.insert(0, os.path.join(os.environ.get("TOKEND_SOURCE", "."),
                                "tests/support"))

from tokend_harness import TokendTestCase, basic_header  # noqa: E402

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
INTERNALS = re.compile(
    r"sqlite|\bsql\b|select |insert |update |delete from|database|locked|"
    r"no such (table|column|file)|constraint|syntax error|postgres|"
    r"jansson|openssl|sodium|"
    r"microhttpd|errno|segmentation|stack|traceback|assert|\.c:\d|"
    r"/tmp|/work|/usr|/home|/etc|tokend\.db|0x[0-9a-f]{6,}",
    re.IGNORECASE)
SQL = "' OR '1'='1' --"
DROP = "x'; DROP TABLE clients; --"
TRAVERSAL = "../../../../etc/passwd"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_jwt(header, payload):
    return (b64url(json.dumps(header).encode()) + "." +
            b64url(json.dumps(payload).encode()) + "." + b64url(b"s" * 64))


class ErrorsTest(TokendTestCase):

    @classmethod
    def setUpClass(cls):
        cls.tokend = cls.start_class_tokend("--auth-failure-limit", "0")
        cls.client = cls.tokend.create_client("errors", scope="read")
        cls.other = cls.tokend.create_client("other")
        cls.tokens = cls.tokend.issue(cls.other)

    def assert_clean(self, response, case, server_error_allowed=False):
        if not server_error_allowed:
            self.assertLess(response.status, 500, f"{case}: {response!r}")
        body = response.body.decode("utf-8", "replace")
        match = INTERNALS.search(body)
        self.assertIsNone(match, f"{case}: the answer shows "
                                 f"{match.group(0) if match else ''!r}: "
                                 f"{body[:300]}")
        for name, value in response.headers:
            self.assertIsNone(INTERNALS.search(value),
                              f"{case}: header {name}: {value}")
        if (response.header("Content-Type") or "").startswith(
                "application/json") and response.status >= 400:
            error = response.json()
            self.assertIn("error", error, case)
            self.assertIn("requestId", error, case)

    def post(self, path, body, headers=None, client=True):
        all_headers = dict(FORM)
        if client:
            all_headers.update(self.tokend.basic_auth(self.client))
        all_headers.update(headers or {})
        return self.tokend.request("POST", path, body=body,
                                   headers=all_headers)

    def form_cases(self):
        """Bodies for the three form endpoints."""
        return {
            "json body": json.dumps({"grant_type": "client_credentials"}),
            "bad escape": "grant_type=%zz",
            "cut escape": "grant_type=client_credentials&scope=%4",
            "NUL": "grant_type=client_credentials&scope=a%00b",
            "repeated": "grant_type=a&grant_type=b",
            "too many": "&".join(f"p{n}=v" for n in range(40)),
            "empty name": "=x&grant_type=client_credentials",
            "unsupported grant": "grant_type=password&username=a",
            "sql scope": "grant_type=client_credentials&scope=" +
                         urllib.parse.quote(SQL),
            "long scope": "grant_type=client_credentials&scope=" + "s" * 4000,
            "control scope": "grant_type=client_credentials&scope=%01%7f",
            "garbage refresh": "grant_type=refresh_token&refresh_token=" +
                               urllib.parse.quote(DROP),
            "long refresh": "grant_type=refresh_token&refresh_token=" +
                            "A" * 600,
            "forged refresh": "grant_type=refresh_token&refresh_token=" +
                              b64url(os.urandom(120)),
            "another client's refresh": "grant_type=refresh_token&"
                                        "refresh_token=" +
                                        self.tokens["refresh_token"],
            "traversal token": "token=" + urllib.parse.quote(TRAVERSAL),
            "unknown hint": "token=abc&token_type_hint=bogus",
            "jwt with sql kid": "token=" + forged_jwt(
                {"alg": "ES256", "typ": "at+jwt", "kid": SQL}, {"sub": 1}),
            "non-utf8": b"grant_type=client_credentials&scope=\xff\xfe",
        }

    def test_form_endpoints(self):
        for path in ("/v2/auth/token", "/v2/auth/revoke",
                     "/v2/auth/introspect"):
            for case, body in self.form_cases().items():
                with self.subTest(path=path, case=case):
                    self.assert_clean(self.post(path, body),
                                      f"{path} {case}")
            with self.subTest(path=path, case="no content type"):
                self.assert_clean(self.tokend.request(
                    "POST", path, body="grant_type=client_credentials",
                    headers=self.tokend.basic_auth(self.client)), path)

    def test_client_authentication(self):
        credentials = {
            "sql id": (SQL, DROP), "traversal id": (TRAVERSAL, "x"),
            "long id": ("i" * 4000, "s"), "long secret": ("a", "s" * 4000),
            "unicode": ("é😀", "ü"), "empty": ("", ""),
        }
        for case, (client_id, secret) in credentials.items():
            for basic in (True, False):
                with self.subTest(case=case, basic=basic):
                    fields = {"grant_type": "client_credentials"}
                    headers = {}
                    if basic:
                        headers["Authorization"] = basic_header(client_id,
                                                                secret)
                    else:
                        fields.update(client_id=client_id,
                                      client_secret=secret)
                    self.assert_clean(self.post(
                        "/v2/auth/token", urllib.parse.urlencode(fields),
                        headers, client=False), case)

        headers = {
            "not base64": "Basic !!!",
            "no colon": "Basic " + base64.b64encode(b"nocolon").decode(),
            "bad escape": "Basic " + base64.b64encode(b"%zz:%zz").decode(),
            "NUL": "Basic " + base64.b64encode(b"a%00:b").decode(),
            "huge": "Basic " + "A" * 6000,
            "other scheme": "Digest username=x",
        }
        for case, value in headers.items():
            with self.subTest(case=case):
                self.assert_clean(self.post(
                    "/v2/auth/token", "grant_type=client_credentials",
                    {"Authorization": value}, client=False), case)

    def bearer_cases(self):
        return {
            "none": None, "empty": "Bearer", "bad characters": "Bearer ???",
            "three dots": "Bearer a.b.c", "huge": "Bearer " + "a" * 5000,
            "alg none": "Bearer " + forged_jwt(
                {"alg": "none", "typ": "at+jwt", "kid": "k"}, {"sub": "x"}),
            "traversal kid": "Bearer " + forged_jwt(
                {"alg": "ES256", "typ": "at+jwt", "kid": TRAVERSAL},
                {"iss": SQL, "sub": DROP, "aud": "a", "exp": 1 << 62,
                 "iat": 0, "jti": "j", "client_id": SQL}),
            "wrong types": "Bearer " + forged_jwt(
                {"alg": "ES256", "typ": "at+jwt", "kid": "k"},
                {"iss": 1, "exp": "soon", "aud": [], "scope": {}}),
            "tampered": "Bearer " + self.tokens["access_token"][:-8] +
                        "AAAAAAAA",
        }

    def test_bearer_endpoints(self):
        for path in ("/v2/auth/check", "/v2/whoami",
                     "/v2/auth/check?scope=" + urllib.parse.quote(SQL),
                     "/v2/auth/check?scope=%zz&scope=" + "s" * 3000):
            for case, value in self.bearer_cases().items():
                with self.subTest(path=path[:40], case=case):
                    headers = {} if value is None else \
                        {"Authorization": value}
                    self.assert_clean(self.tokend.request(
                        "GET", path, headers=headers), case)

    def test_paths_and_methods(self):
        paths = ["/v2/auth/token", "/v2/auth/revoke", "/v2/auth/introspect",
                 "/v2/auth/check", "/v2/whoami", "/health",
                 "/.well-known/oauth-authorization-server",
                 "/.well-known/jwks.json", "/v2/auth/token/../../etc/passwd",
                 "/%00", "/v2/auth/tok%65n", "/" + "x" * 3000,
                 "/.well-known/jwks.json?" + urllib.parse.quote(SQL)]
        for path in paths:
            for method in ("GET", "POST", "PUT", "DELETE", "OPTIONS",
                           "PATCH", "FOO"):
                with self.subTest(path=path[:40], method=method):
                    self.assert_clean(self.tokend.request(
                        method, path, body="x=1", headers=FORM),
                        f"{method} {path[:40]}")

    def test_a_failing_store_answers_without_its_internals(self):
        # Another process holds the store's write lock past tokend's busy
        # timeout: writes fail inside tokend.
        refresh = self.tokend.issue(self.client)["refresh_token"]
        access = self.tokend.issue(self.client)["access_token"]
        locker = sqlite3.connect(self.tokend.db, timeout=10)
        self.addCleanup(locker.close)
        locker.execute("BEGIN EXCLUSIVE")
        answers = {}

        def call(name, function):
            answers[name] = function()

        def post(path, fields):
            # Writes queue behind one another, each for the busy timeout.
            headers = dict(FORM, **self.tokend.basic_auth(self.client))
            return self.tokend.request("POST", path, timeout=30,
                                       body=urllib.parse.urlencode(fields),
                                       headers=headers)

        calls = [threading.Thread(target=call, args=pair) for pair in (
            ("refresh", lambda: post("/v2/auth/token", {
                "grant_type": "refresh_token", "refresh_token": refresh})),
            ("revoke", lambda: post("/v2/auth/revoke", {"token": access})))]
        started = time.monotonic()
        for thread in calls:
            thread.start()
        for thread in calls:
            thread.join(timeout=60)
        locker.rollback()
        print(f"store locked: answers after {time.monotonic() - started:.1f}"
              f" s: " + ", ".join(f"{name} {answer.status}"
                                  for name, answer in answers.items()),
              file=sys.stderr)

        self.assertEqual(sorted(answers), ["refresh", "revoke"])
        for name, answer in answers.items():
            with self.subTest(name=name):
                self.assertIn(answer.status, (500, 503), answer)
                self.assert_clean(answer, name, server_error_allowed=True)
        # The refresh was not recorded, so the token still works.
        self.assertEqual(self.tokend.refresh(self.client, refresh).status,
                         200)


if __name__ == "__main__":
    unittest.main()
