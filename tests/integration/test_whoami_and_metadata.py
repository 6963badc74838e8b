"""The protected endpoint tokend ships (GET /v2/whoami, RFC 6750 errors)
and the public documents: RFC 8414 metadata and the JWKS."""

import base64
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.environ.get("TOKEND_SOURCE", "."),
                                "tests/support"))

import jws_verify  # noqa: E402
from tokend_harness import (TokendTestCase, jwt_parts,  # noqa: E402
                            wait_until)

ISSUER = "https://auth.example.test"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def replace_claims(token, **changes):
    """The token with its claims changed and its signature kept."""
    header, claims, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "==="))
    decoded.update(changes)
    return ".".join([header, b64url(json.dumps(decoded).encode()),
                     signature])


class WhoamiTest(TokendTestCase):

    @classmethod
    def setUpClass(cls):
        cls.tokend = cls.start_class_tokend("--issuer", ISSUER)
        cls.client = cls.tokend.create_client("whoami client",
                                              scope="read write",
                                              subject="member-7")

    def sibling(self, *args):
        """A second tokend on this store, so with the same keys."""
        return self.start_tokend(*args, db=self.tokend.db,
                                 folder=self.tokend.folder,
                                 log_name=f"sibling-{time.monotonic()}.log")

    def whoami(self, token):
        return self.tokend.bearer("GET", "/v2/whoami", token)

    def test_whoami(self):
        body = self.tokend.issue(self.client, scope="read")
        claims = jwt_parts(body["access_token"])[1]
        answer = self.whoami(body["access_token"])
        self.assertEqual(answer.status, 200, answer)
        self.assertTrue(answer.header("X-Request-Id"))
        me = answer.json()
        self.assertEqual(me["client_id"], self.client["client_id"])
        self.assertEqual(me["name"], "whoami client")
        self.assertEqual(me["sub"], "member-7")
        self.assertEqual(me["scope"], "read")
        self.assertEqual(me["exp"], claims["exp"])

    def test_bearer_scheme_is_case_insensitive(self):
        token = self.tokend.issue(self.client)["access_token"]
        for scheme in ("bearer", "BEARER"):
            with self.subTest(scheme=scheme):
                answer = self.tokend.request(
                    "GET", "/v2/whoami",
                    headers={"Authorization": f"{scheme} {token}"})
                self.assertEqual(answer.status, 200, answer)

    def test_whoami_subject_defaults_to_the_client(self):
        plain = self.tokend.create_client("no subject")
        me = self.whoami(self.tokend.issue(plain)["access_token"]).json()
        self.assertEqual(me["sub"], plain["client_id"])

    def test_no_token(self):
        for headers in [{}, {"Authorization": "Basic dXNlcjpwYXNz"}]:
            with self.subTest(headers=headers):
                answer = self.tokend.request("GET", "/v2/whoami",
                                             headers=headers)
                challenge = self.assert_bearer_refused(answer, error=None)
                self.assertEqual(challenge, 'Bearer realm="tokend"')

    def test_malformed_tokens(self):
        for token in ["abc", "a.b.c", "a.b", "@@@", "x" * 5000,
                      "eyJhbGciOiJub25lIn0.e30.",
                      "Bearer " + "tok en"]:
            with self.subTest(token=token[:30]):
                self.assert_bearer_refused(self.whoami(token))

    def test_tampered_signature(self):
        token = self.tokend.issue(self.client)["access_token"]
        header, claims, signature = token.split(".")
        raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
        raw[10] ^= 0x01
        self.assert_bearer_refused(
            self.whoami(".".join([header, claims, b64url(bytes(raw))])))

    def test_tampered_claims(self):
        token = self.tokend.issue(self.client, scope="read")["access_token"]
        for change in [{"scope": "read write admin"},
                       {"sub": "someone-else"},
                       {"exp": int(time.time()) + 86400 * 365}]:
            with self.subTest(change=change):
                self.assert_bearer_refused(
                    self.whoami(replace_claims(token, **change)))

    def test_unsigned_token(self):
        token = self.tokend.issue(self.client)["access_token"]
        _, claims, _ = token.split(".")
        header = b64url(json.dumps({"alg": "none", "typ": "at+jwt"})
                        .encode())
        self.assert_bearer_refused(self.whoami(header + "." + claims + "."))

    def test_foreign_issuer_with_the_same_keys(self):
        # A second tokend on the same store signs with the same key; only
        # its issuer differs, so only the issuer check can refuse it.
        other = self.sibling("--issuer", "https://other.example.test")
        token = other.issue(self.client)["access_token"]
        self.assertEqual(jwt_parts(token)[1]["iss"],
                         "https://other.example.test")
        self.assertTrue(jws_verify.verify(token, self.tokend.jwks()))
        self.assert_bearer_refused(self.whoami(token))
        self.assertEqual(other.bearer("GET", "/v2/whoami", token).status,
                         200)

    def test_foreign_issuer_with_other_keys(self):
        other = self.start_tokend("--issuer", "https://other.example.test")
        stranger = other.create_client("stranger")
        self.assert_bearer_refused(
            self.whoami(other.issue(stranger)["access_token"]))

    def test_token_of_another_server_with_the_same_issuer(self):
        # Same iss, different keys: the kid is unknown here.
        other = self.start_tokend("--issuer", ISSUER)
        stranger = other.create_client("stranger")
        self.assert_bearer_refused(
            self.whoami(other.issue(stranger)["access_token"]))

    def test_wrong_audience(self):
        other = self.sibling("--issuer", ISSUER,
                             "--audience", "https://elsewhere")
        token = other.issue(self.client)["access_token"]
        self.assert_bearer_refused(self.whoami(token))


class ExpiredTokenTest(TokendTestCase):

    def test_expired_token(self):
        tokend = self.start_tokend("--access-token-ttl", "10")
        client = tokend.create_client("expiring")
        token = tokend.issue(client)["access_token"]
        exp = jwt_parts(token)[1]["exp"]
        self.assertEqual(tokend.bearer("GET", "/v2/whoami", token).status,
                         200)
        time.sleep(max(0, exp + 0.2 - time.time()))
        answer = tokend.bearer("GET", "/v2/whoami", token)
        self.assert_bearer_refused(answer)


class MetadataTest(TokendTestCase):

    @classmethod
    def setUpClass(cls):
        cls.tokend = cls.start_class_tokend("--issuer", ISSUER)

    def test_authorization_server_metadata(self):
        answer = self.tokend.request(
            "GET", "/.well-known/oauth-authorization-server")
        self.assertEqual(answer.status, 200, answer)
        self.assertTrue(answer.header("Content-Type")
                        .startswith("application/json"))
        metadata = answer.json()
        self.assertEqual(metadata["issuer"], ISSUER)
        self.assertEqual(metadata["token_endpoint"],
                         ISSUER + "/v2/auth/token")
        self.assertEqual(metadata["jwks_uri"],
                         ISSUER + "/.well-known/jwks.json")
        self.assertEqual(metadata["revocation_endpoint"],
                         ISSUER + "/v2/auth/revoke")
        self.assertEqual(metadata["introspection_endpoint"],
                         ISSUER + "/v2/auth/introspect")
        self.assertEqual(sorted(metadata["grant_types_supported"]),
                         ["client_credentials", "refresh_token"])
        self.assertEqual(
            sorted(metadata["token_endpoint_auth_methods_supported"]),
            ["client_secret_basic", "client_secret_post"])
        self.assertIn("response_types_supported", metadata)

    def test_jwks(self):
        answer = self.tokend.request("GET", "/.well-known/jwks.json")
        self.assertEqual(answer.status, 200, answer)
        self.assertTrue(answer.header("Content-Type")
                        .startswith("application/json"))
        keys = answer.json()["keys"]
        self.assertGreaterEqual(len(keys), 1)
        for key in keys:
            self.assertEqual(key["kty"], "EC")
            self.assertEqual(key["crv"], "P-256")
            self.assertEqual(key["alg"], "ES256")
            self.assertEqual(key.get("use", "sig"), "sig")
            self.assertTrue(key["kid"])
            self.assertEqual(len(base64.urlsafe_b64decode(key["x"] + "=")),
                             32)
            self.assertEqual(len(base64.urlsafe_b64decode(key["y"] + "=")),
                             32)
            self.assertNotIn("d", key, "a private key is published")
        self.assertEqual(len({key["kid"] for key in keys}), len(keys))

    def test_tokens_verify_with_the_jwks(self):
        client = self.tokend.create_client("verifier")
        token = self.tokend.issue(client)["access_token"]
        jwks = self.tokend.jwks()
        self.assertTrue(jws_verify.verify(token, jwks))
        self.assertFalse(jws_verify.verify(replace_claims(token, sub="x"),
                                           jwks))

    def test_keys_survive_a_restart(self):
        # The private key is kept with the store: a token signed before a
        # restart verifies after it.
        tokend = self.start_tokend("--issuer", ISSUER)
        client = tokend.create_client("restart")
        token = tokend.issue(client)["access_token"]
        kids = [key["kid"] for key in tokend.jwks()["keys"]]
        tokend.stop()
        tokend.start()
        self.assertEqual([key["kid"] for key in tokend.jwks()["keys"]], kids)
        self.assertEqual(tokend.bearer("GET", "/v2/whoami", token).status,
                         200)

    def test_key_rotation(self):
        # A rotated key is published next to the old one, new tokens are
        # signed with it, and tokens signed before still verify.
        tokend = self.start_tokend("--issuer", ISSUER)
        client = tokend.create_client("rotation")
        before = tokend.issue(client)["access_token"]
        old_kid = jwt_parts(before)[0]["kid"]
        tokend.tokenctl("keys", "rotate", "--algorithm", "EdDSA")

        def signed_with_a_new_key():
            token = tokend.issue(client)["access_token"]
            return token if jwt_parts(token)[0]["kid"] != old_kid else None

        after, elapsed = wait_until(signed_with_a_new_key, timeout=3)
        self.assertIsNotNone(after, "tokens are still signed with the old key")
        self.assertLess(elapsed, 1.0)
        self.assertEqual(jwt_parts(after)[0]["alg"], "EdDSA")
        jwks = tokend.jwks()
        self.assertTrue(jws_verify.verify(before, jwks))
        self.assertTrue(jws_verify.verify(after, jwks))
        for token in (before, after):
            self.assertEqual(tokend.bearer("GET", "/v2/whoami", token).status,
                             200)

    def test_unknown_path(self):
        answer = self.tokend.request("GET", "/v2/auth/nothing")
        self.assertEqual(answer.status, 404)
        self.assertTrue(answer.header("X-Request-Id"))
        self.assertEqual(answer.json()["requestId"],
                         answer.header("X-Request-Id"))

    def test_health(self):
        answer = self.tokend.request("GET", "/health")
        self.assertEqual(answer.status, 200)
        self.assertEqual(answer.json()["status"], "ok")


if __name__ == "__main__":
    unittest.main()
