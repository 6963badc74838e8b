"""POST /v2/auth/token with grant_type=client_credentials, against the real
tokend over real HTTP: client authentication, scopes, the answer and its
headers, every error of the wire contract (issue 2), and the JWT itself."""

import base64
import os
import statistics
import sys
import time
import urllib.parse
import unittest

sys.path.insert(0, os.path.join(os.environ.get("TOKEND_SOURCE", "."),
                                "tests/support"))

import jws_verify  # noqa: E402
from tokend_harness import (TokendTestCase, basic_header,  # noqa: E402
                            in_parallel, jwt_parts)

TOKEN_PATH = "/v2/auth/token"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def percent_encode_all(text):
    """Every character as %XX: legal form encoding a server must decode."""
    return "".join(f"%{byte:02X}" for byte in text.encode())


class TokenEndpointTest(TokendTestCase):

    @classmethod
    def setUpClass(cls):
        # Throttling is off: several tests fail authentication on purpose.
        cls.tokend = cls.start_class_tokend("--auth-failure-limit", "0")
        cls.client = cls.tokend.create_client("reports", scope="read write")
        cls.member = cls.tokend.create_client("member", scope="read",
                                              subject="member-42")
        cls.issued = []

    def basic(self, client=None):
        return self.tokend.basic_auth(client or self.client)

    def post(self, body, headers=None, client=None):
        all_headers = dict(FORM)
        all_headers.update(self.basic(client))
        all_headers.update(headers or {})
        return self.tokend.request("POST", TOKEN_PATH, body=body,
                                   headers=all_headers)

    def assert_token_answer(self, response, scope=None, expires_in=3600):
        self.assertEqual(response.status, 200, response)
        self.assert_no_store(response)
        self.assertTrue(response.header("X-Request-Id"))
        self.assertTrue(response.header("Content-Type")
                        .startswith("application/json"))
        body = response.json()
        self.assertEqual(body["token_type"], "bearer")
        self.assertEqual(body["expires_in"], expires_in)
        self.assertTrue(body["access_token"])
        self.assertTrue(body["refresh_token"])
        if scope is None:
            self.assertNotIn("scope", body)
        else:
            self.assertEqual(body["scope"], scope)
        self.issued.extend([body["access_token"], body["refresh_token"]])
        return body

    # --- client authentication ------------------------------------------

    def test_basic_authentication(self):
        self.assert_token_answer(self.tokend.token(self.client))

    def test_body_authentication(self):
        self.assert_token_answer(self.tokend.token(self.client, basic=False))

    def test_basic_parts_are_form_decoded(self):
        # RFC 6749 §2.3.1: both parts are form-encoded before base64, so a
        # server must decode them; encoding every character is legal.
        pair = percent_encode_all(self.client["client_id"]) + ":" + \
            percent_encode_all(self.client["client_secret"])
        header = "Basic " + base64.b64encode(pair.encode()).decode()
        answer = self.post("grant_type=client_credentials",
                           {"Authorization": header})
        self.assert_token_answer(answer)

    def test_basic_parts_with_some_characters_encoded(self):
        client_id, secret = self.client["client_id"], \
            self.client["client_secret"]
        pair = percent_encode_all(client_id[:3]) + client_id[3:] + ":" + \
            secret[:-2] + percent_encode_all(secret[-2:])
        header = "Basic " + base64.b64encode(pair.encode()).decode()
        answer = self.post("grant_type=client_credentials",
                           {"Authorization": header})
        self.assert_token_answer(answer)

    def test_basic_scheme_is_case_insensitive(self):
        # RFC 7235 §2.1: the scheme is a case-insensitive token.
        header = self.basic()["Authorization"].replace("Basic", "basic", 1)
        answer = self.post("grant_type=client_credentials",
                           {"Authorization": header})
        self.assert_token_answer(answer)

    def test_long_unknown_client_id_in_basic(self):
        # Unknown credentials are 401 invalid_client whatever their length,
        # as they are when sent in the body.
        stranger = {"client_id": "c" * 100, "client_secret": "s" * 300}
        self.assert_invalid_client(self.tokend.token(stranger, basic=False))
        self.assert_invalid_client(self.tokend.token(stranger))

    def test_basic_secret_with_special_characters_is_compared_decoded(self):
        # A wrong secret full of characters that need encoding is still
        # just a wrong secret: 401, not a parse error or a 500.
        for secret in ["a:b+c", "p%25w d", "ü/=&?#", "+ +"]:
            with self.subTest(secret=secret):
                header = basic_header(self.client["client_id"], secret)
                self.assert_invalid_client(
                    self.post("grant_type=client_credentials",
                              {"Authorization": header}))

    def test_both_methods_at_once(self):
        fields = {"grant_type": "client_credentials",
                  "client_id": self.client["client_id"],
                  "client_secret": self.client["client_secret"]}
        answer = self.post(urllib.parse.urlencode(fields))
        self.assert_oauth_error(answer, 400, "invalid_request")
        del fields["client_id"]
        answer = self.post(urllib.parse.urlencode(fields))
        self.assert_oauth_error(answer, 400, "invalid_request")

    def test_no_credentials(self):
        answer = self.tokend.post_form(TOKEN_PATH,
                                       {"grant_type": "client_credentials"})
        self.assert_invalid_client(answer)

    def test_client_id_without_secret(self):
        answer = self.tokend.post_form(
            TOKEN_PATH, {"grant_type": "client_credentials",
                         "client_id": self.client["client_id"]})
        self.assert_invalid_client(answer)

    def test_unknown_client(self):
        stranger = {"client_id": "no-such-client",
                    "client_secret": self.client["client_secret"]}
        self.assert_invalid_client(self.tokend.token(stranger))
        self.assert_invalid_client(self.tokend.token(stranger, basic=False))

    def test_wrong_secret(self):
        wrong = dict(self.client, client_secret="not-the-secret")
        self.assert_invalid_client(self.tokend.token(wrong))
        self.assert_invalid_client(self.tokend.token(wrong, basic=False))
        truncated = dict(self.client,
                         client_secret=self.client["client_secret"][:-1])
        self.assert_invalid_client(self.tokend.token(truncated))

    def test_disabled_client(self):
        client = self.tokend.create_client("to be disabled")
        self.tokend.tokenctl("client", "disable", client["client_id"])
        self.assertIsNotNone(self.wait_for_status(client, 401),
                             "the disabled client still gets tokens")
        self.assert_invalid_client(self.tokend.token(client))
        self.assert_invalid_client(self.tokend.token(client, basic=False))

    def wait_for_status(self, client, status, timeout=3):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = self.tokend.token(client)
            if answer.status == status:
                return answer
            time.sleep(0.05)
        return None

    def test_refusals_do_not_tell_what_was_wrong(self):
        disabled = self.tokend.create_client("disabled twin")
        self.tokend.tokenctl("client", "disable", disabled["client_id"])
        self.assertIsNotNone(self.wait_for_status(disabled, 401))

        answers = [
            self.tokend.token({"client_id": "no-such-client",
                               "client_secret": "whatever"}),
            self.tokend.token(dict(self.client, client_secret="whatever")),
            self.tokend.token(disabled),
        ]
        shapes = []
        for answer in answers:
            body = self.assert_invalid_client(answer)
            del body["requestId"]
            headers = sorted((name.lower(), value)
                             for name, value in answer.headers
                             if name.lower() not in ("x-request-id", "date",
                                                     "content-length"))
            shapes.append((answer.status, body, headers))
        self.assertEqual(shapes[0], shapes[1])
        self.assertEqual(shapes[0], shapes[2])

    def test_refusals_take_the_same_time(self):
        # The issue: "must take the same time either way". Network noise
        # is far larger than an HMAC, so this can only catch a gross
        # difference (a slow hash on one path only, a store lookup, ...).
        unknown = {"client_id": "no-such-client", "client_secret": "x" * 43}
        wrong = dict(self.client, client_secret="x" * 43)
        times = {"unknown": [], "wrong": []}
        for _ in range(40):
            for name, client in (("unknown", unknown), ("wrong", wrong)):
                started = time.perf_counter()
                self.assertEqual(self.tokend.token(client).status, 401)
                times[name].append(time.perf_counter() - started)
        unknown_median = statistics.median(times["unknown"])
        wrong_median = statistics.median(times["wrong"])
        self.assertLess(abs(unknown_median - wrong_median),
                        max(0.002, 0.5 * min(unknown_median, wrong_median)),
                        times)

    # --- scope ------------------------------------------------------------

    def test_scope_subset(self):
        body = self.assert_token_answer(self.tokend.token(self.client,
                                                          scope="read"),
                                        scope="read")
        self.assertEqual(jwt_parts(body["access_token"])[1]["scope"], "read")

    def test_scope_equal_to_the_clients(self):
        body = self.assert_token_answer(
            self.tokend.token(self.client, scope="write read"),
            scope="write read")
        self.assertEqual(
            sorted(jwt_parts(body["access_token"])[1]["scope"].split()),
            ["read", "write"])

    def test_scope_superset(self):
        for scope in ["read admin", "admin", "read write admin", "rea"]:
            with self.subTest(scope=scope):
                self.assert_oauth_error(
                    self.tokend.token(self.client, scope=scope), 400,
                    "invalid_scope")

    def test_no_scope_means_all_of_the_clients(self):
        body = self.assert_token_answer(self.tokend.token(self.client))
        claims = jwt_parts(body["access_token"])[1]
        self.assertEqual(sorted(claims["scope"].split()), ["read", "write"])

    # --- the answer's headers, the log and the error envelope ---------------

    def test_request_id_is_in_the_log_line(self):
        answers = [self.tokend.token(self.client),
                   self.tokend.token(dict(self.client, client_secret="no")),
                   self.tokend.request("GET", TOKEN_PATH),
                   self.tokend.request("GET", "/health")]
        ids = [answer.header("X-Request-Id") for answer in answers]
        self.assertTrue(all(ids), ids)
        self.assertEqual(len(set(ids)), len(ids), "request IDs repeat")
        for answer, request_id in zip(answers, ids):
            lines = self.tokend.request_log_lines(request_id)
            self.assertEqual(len(lines), 1, request_id)
            self.assertEqual(lines[0]["status"], str(answer.status))
        issued = self.tokend.request_log_lines(ids[0])[0]
        self.assertEqual(issued["client_id"], self.client["client_id"])
        self.assertEqual(issued["grant"], "client_credentials")
        self.assertEqual(issued["method"], "POST")
        self.assertEqual(issued["path"], TOKEN_PATH)
        self.assertIn("duration_us", issued)

    def test_errors_carry_both_envelopes_and_no_store(self):
        answers = {
            "invalid_request": self.post("scope=read"),
            "invalid_client": self.tokend.token({"client_id": "x",
                                                 "client_secret": "y"}),
            "unsupported_grant_type": self.post("grant_type=password"),
            "invalid_scope": self.tokend.token(self.client, scope="admin"),
        }
        for error, answer in answers.items():
            with self.subTest(error=error):
                self.assertEqual(answer.status,
                                 401 if error == "invalid_client" else 400)
                self.assert_oauth_error(answer, answer.status, error)
                self.assertTrue(answer.header("Content-Type")
                                .startswith("application/json"))

    def test_other_methods(self):
        for method in ["GET", "PUT", "DELETE", "PATCH"]:
            with self.subTest(method=method):
                answer = self.tokend.request(method, TOKEN_PATH, headers=FORM)
                self.assertEqual(answer.status, 405, answer)
                self.assertEqual(answer.header("Allow"), "POST")
                self.assertTrue(answer.header("X-Request-Id"))
                body = answer.json()
                self.assertEqual(body["requestId"],
                                 answer.header("X-Request-Id"))
                self.assertIn("error", body)
                self.assert_no_store(answer)

    # --- malformed requests -----------------------------------------------

    def oversized_body(self):
        body = "grant_type=client_credentials&scope="
        return (body + "a" * (9 * 1024 - len(body))).encode()

    def test_body_over_the_limit_with_content_length(self):
        answer = self.post(self.oversized_body())
        self.assert_oauth_error(answer, 413, "invalid_request")

    def test_body_over_the_limit_chunked(self):
        body = self.oversized_body()
        chunks = [body[i:i + 1024] for i in range(0, len(body), 1024)]
        headers = dict(FORM)
        headers.update(self.basic())
        answer = self.tokend.request("POST", TOKEN_PATH, body=iter(chunks),
                                     headers=headers, encode_chunked=True)
        self.assert_oauth_error(answer, 413, "invalid_request")

    def test_body_under_the_limit_chunked(self):
        body = b"grant_type=client_credentials"
        headers = dict(FORM)
        headers.update(self.basic())
        answer = self.tokend.request("POST", TOKEN_PATH,
                                     body=iter([body[:10], body[10:]]),
                                     headers=headers, encode_chunked=True)
        self.assert_token_answer(answer)

    def test_content_type_must_be_a_form(self):
        body = "grant_type=client_credentials"
        for content_type in ["application/json", "text/plain",
                             "multipart/form-data; boundary=x",
                             "application/x-www-form-urlencodedx", None]:
            with self.subTest(content_type=content_type):
                headers = self.basic()
                if content_type is not None:
                    headers["Content-Type"] = content_type
                answer = self.tokend.request("POST", TOKEN_PATH, body=body,
                                             headers=headers)
                self.assert_oauth_error(answer, 400, "invalid_request")
        answer = self.post('{"grant_type": "client_credentials"}',
                           {"Content-Type": "application/json"})
        self.assert_oauth_error(answer, 400, "invalid_request")

    def test_form_content_type_with_charset(self):
        answer = self.post("grant_type=client_credentials", {
            "Content-Type":
                "application/x-www-form-urlencoded; charset=UTF-8"})
        self.assert_token_answer(answer)

    def test_repeated_parameters(self):
        for body in ["grant_type=client_credentials"
                     "&grant_type=client_credentials",
                     "grant_type=client_credentials&scope=read&scope=read",
                     "grant_type=client_credentials&scope=read&scope=write"]:
            with self.subTest(body=body):
                self.assert_oauth_error(self.post(body), 400,
                                        "invalid_request")
        client_id = urllib.parse.quote(self.client["client_id"])
        secret = urllib.parse.quote(self.client["client_secret"])
        body = (f"grant_type=client_credentials&client_id={client_id}"
                f"&client_id={client_id}&client_secret={secret}")
        answer = self.tokend.request("POST", TOKEN_PATH, body=body,
                                     headers=FORM)
        self.assert_oauth_error(answer, 400, "invalid_request")

    def test_malformed_percent_encoding(self):
        for bad in ["%zz", "%4", "%00", "%", "%g1", "read%2"]:
            with self.subTest(encoding=bad):
                answer = self.post("grant_type=client_credentials&scope=" +
                                   bad)
                self.assert_oauth_error(answer, 400, "invalid_request")
        answer = self.post("grant_type=client_credentials&sc%zzope=read")
        self.assert_oauth_error(answer, 400, "invalid_request")

    def test_missing_grant_type(self):
        for body in ["", "scope=read", "grant_type="]:
            with self.subTest(body=body):
                self.assert_oauth_error(self.post(body), 400,
                                        "invalid_request")

    def test_unknown_grant_type(self):
        for grant in ["password", "authorization_code", "CLIENT_CREDENTIALS",
                      "urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            with self.subTest(grant=grant):
                answer = self.post(urllib.parse.urlencode(
                    {"grant_type": grant}))
                self.assert_oauth_error(answer, 400,
                                        "unsupported_grant_type")

    # --- the access token -------------------------------------------------

    def test_access_token_is_an_rfc9068_jwt(self):
        body = self.assert_token_answer(self.tokend.token(self.client))
        token = body["access_token"]
        header, claims = jwt_parts(token)
        self.assertEqual(header["typ"].lower(), "at+jwt")
        self.assertEqual(header["alg"], "ES256")
        jwks = self.tokend.jwks()
        self.assertIn(header["kid"], [key["kid"] for key in jwks["keys"]])
        self.assertTrue(jws_verify.verify(token, jwks),
                        "the signature does not verify with the JWKS key")

        self.assertEqual(claims["iss"], self.tokend.configured_issuer)
        self.assertEqual(claims["sub"], self.client["client_id"])
        self.assertEqual(claims["client_id"], self.client["client_id"])
        self.assertEqual(claims["aud"], self.tokend.configured_issuer)
        self.assertEqual(claims["exp"] - claims["iat"], 3600)
        self.assertLessEqual(abs(claims["iat"] - time.time()), 5)
        self.assertEqual(sorted(claims["scope"].split()), ["read", "write"])
        self.assertTrue(claims["jti"])

    def test_subject_of_a_member_client(self):
        body = self.assert_token_answer(self.tokend.token(self.member))
        claims = jwt_parts(body["access_token"])[1]
        self.assertEqual(claims["sub"], "member-42")
        self.assertEqual(claims["client_id"], self.member["client_id"])

    def test_token_ids_are_unique(self):
        tokens = [self.tokend.issue(self.client) for _ in range(25)]
        self.issued.extend(t["access_token"] for t in tokens)
        self.issued.extend(t["refresh_token"] for t in tokens)
        ids = {jwt_parts(t["access_token"])[1]["jti"] for t in tokens}
        self.assertEqual(len(ids), 25)
        refresh = {t["refresh_token"] for t in tokens}
        self.assertEqual(len(refresh), 25)

    def test_parallel_issuance(self):
        batches = in_parallel(
            lambda: [self.tokend.token(self.client, scope="read")
                     for _ in range(25)], 8)
        answers = [answer for batch in batches for answer in batch]
        self.assertEqual(len(answers), 200)
        bodies = [self.assert_token_answer(answer, scope="read")
                  for answer in answers]
        ids = {jwt_parts(body["access_token"])[1]["jti"] for body in bodies}
        self.assertEqual(len(ids), 200)

    def test_zz_nothing_secret_in_the_log(self):
        # Runs last (names sort): every token issued by the tests above.
        self.assert_token_answer(self.tokend.token(self.client, basic=False))
        secrets = [self.client["client_secret"],
                   self.member["client_secret"],
                   basic_header(self.client["client_id"],
                                self.client["client_secret"]).split()[1]]
        self.assertGreater(len(self.issued), 10)
        self.assert_not_logged(self.tokend, secrets + self.issued)


class TokenSettingsTest(TokendTestCase):

    def test_access_token_ttl_setting(self):
        tokend = self.start_tokend("--access-token-ttl", "120")
        client = tokend.create_client("short lived")
        body = tokend.issue(client)
        self.assertEqual(body["expires_in"], 120)
        claims = jwt_parts(body["access_token"])[1]
        self.assertEqual(claims["exp"] - claims["iat"], 120)

    def test_eddsa(self):
        tokend = self.start_tokend("--signing-algorithm", "EdDSA")
        client = tokend.create_client("edwards", scope="read")
        body = tokend.issue(client)
        header, claims = jwt_parts(body["access_token"])
        self.assertEqual(header["alg"], "EdDSA")
        self.assertEqual(header["typ"].lower(), "at+jwt")
        jwks = tokend.jwks()
        keys = [key for key in jwks["keys"] if key["kid"] == header["kid"]]
        self.assertEqual(len(keys), 1)
        self.assertEqual((keys[0]["kty"], keys[0]["crv"]),
                         ("OKP", "Ed25519"))
        self.assertTrue(jws_verify.verify(body["access_token"], jwks))
        self.assertEqual(claims["scope"], "read")
        answer = tokend.bearer("GET", "/v2/whoami", body["access_token"])
        self.assertEqual(answer.status, 200, answer)

    def test_explicit_issuer_and_audience(self):
        tokend = self.start_tokend("--issuer", "https://auth.example.test",
                                   "--audience", "https://api.example.test")
        client = tokend.create_client("issuer check")
        claims = jwt_parts(tokend.issue(client)["access_token"])[1]
        self.assertEqual(claims["iss"], "https://auth.example.test")
        self.assertEqual(claims["aud"], "https://api.example.test")

    def test_derived_issuer_names_the_bound_port(self):
        # With --listen 127.0.0.1:0 and no --issuer, the issuer is derived
        # from the listen address; it must name the port actually bound,
        # or the metadata's endpoints and every token's iss point nowhere.
        tokend = self.start_tokend()
        self.assertEqual(tokend.configured_issuer,
                         f"http://127.0.0.1:{tokend.port}")
        metadata = tokend.request(
            "GET", "/.well-known/oauth-authorization-server").json()
        self.assertEqual(metadata["token_endpoint"],
                         tokend.url("/v2/auth/token"))


if __name__ == "__main__":
    unittest.main()
