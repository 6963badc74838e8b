"""Third-party Python OAuth clients against the real tokend, unchanged:
Debian's requests-oauthlib (BackendApplicationClient + OAuth2Session) and
authlib (requests_client.OAuth2Session and authlib.jose). Run with
/usr/bin/python3, which has python3-requests-oauthlib and python3-authlib.

The only concession is each library's own switch for plain http on
loopback (OAUTHLIB_INSECURE_TRANSPORT, AUTHLIB_INSECURE_TRANSPORT)."""

import json
import os
import shutil
import socket
import sys
import time
import unittest

os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

sys.path.insert(0, os.path.join(
    os.environ.get("TOKEND_SOURCE",
                   os.path.join(os.path.dirname(__file__), "..", "..")),
    "tests", "support"))

import requests  # noqa: E402
from requests.auth import HTTPBasicAuth  # noqa: E402
from oauthlib.oauth2 import BackendApplicationClient  # noqa: E402
from oauthlib.oauth2.rfc6749 import errors as oauthlib_errors  # noqa: E402
from requests_oauthlib import OAuth2Session as OAuthlibSession  # noqa: E402

import authlib  # noqa: E402
from authlib.integrations.requests_client import (  # noqa: E402
    OAuth2Session as AuthlibSession, OAuthError as AuthlibOAuthError)
from authlib.jose import JsonWebKey, JsonWebToken  # noqa: E402
from authlib.jose import errors as jose_errors  # noqa: E402

from tokend_harness import Tokend, jwt_parts  # noqa: E402

TIMEOUT = 10  # seconds, for every HTTP call a library makes
# Issue 3: a revoked access token is refused "within one second of the
# revocation, on the same instance" (RFC 7009 §2.2 allows a delay); tokend
# reloads its in-memory revocation set asynchronously, so the checks that
# follow a revocation poll for up to this long.
REVOCATION_DELAY = 1.0


def eventually(probe, accept, timeout=REVOCATION_DELAY):
    """Calls probe() until accept(answer) or timeout; the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if accept(answer) or time.monotonic() >= deadline:
            return answer
        time.sleep(0.02)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_tokend(*extra):
    """A tokend whose issuer names the port it really listens on. The port
    is chosen here and passed with --listen and --issuer, so the issuer
    is right whatever tokend derives for --listen 127.0.0.1:0; a port
    taken in between is retried."""
    last = None
    for _ in range(5):
        port = free_port()
        server = Tokend("--listen", f"127.0.0.1:{port}",
                        "--issuer", f"http://127.0.0.1:{port}", *extra)
        try:
            server.start()
        except RuntimeError as error:
            server.stop()
            shutil.rmtree(server.folder, ignore_errors=True)
            last = error
            continue
        assert server.port == port, (server.port, port)
        return server
    raise RuntimeError(f"tokend would not start: {last}")


SERVER = None


def setUpModule():
    global SERVER
    SERVER = start_tokend()


def tearDownModule():
    if SERVER is not None:
        code = SERVER.stop()
        log = SERVER.log_text()
        shutil.rmtree(SERVER.folder, ignore_errors=True)
        if code != 0:
            raise RuntimeError(f"tokend exited with {code}:\n"
                               + log[-4000:])


def url(path):
    return SERVER.url(path)


class RequestsOAuthlib(unittest.TestCase):
    """requests-oauthlib 1.3 on oauthlib 3.2, as an integration would use
    them for client_credentials (RFC 6749 §4.4) and refresh (§6)."""

    @classmethod
    def setUpClass(cls):
        cls.client = SERVER.create_client(name="requests-oauthlib",
                                          scope="read write")

    def session(self, scope=None):
        session = OAuthlibSession(client=BackendApplicationClient(
            client_id=self.client["client_id"], scope=scope))
        self.addCleanup(session.close)
        return session

    def basic(self, secret=None):
        return HTTPBasicAuth(self.client["client_id"],
                             secret or self.client["client_secret"])

    def test_client_credentials_then_refresh_with_basic_auth(self):
        session = self.session()
        token = session.fetch_token(token_url=url("/v2/auth/token"),
                                    auth=self.basic(), timeout=TIMEOUT)
        self.assertEqual(token["token_type"].lower(), "bearer")
        self.assertEqual(token["expires_in"], 3600)
        self.assertIn("refresh_token", token)
        self.assertIn("expires_at", token)  # computed by oauthlib
        first_access = token["access_token"]
        first_refresh = token["refresh_token"]

        answer = session.get(url("/v2/whoami"), timeout=TIMEOUT)
        self.assertEqual(answer.status_code, 200, answer.text)
        self.assertEqual(answer.json()["client_id"], self.client["client_id"])
        self.assertEqual(answer.json()["name"], "requests-oauthlib")
        self.assertEqual(answer.json()["scope"].split(), ["read", "write"])

        refreshed = session.refresh_token(url("/v2/auth/token"),
                                          auth=self.basic(), timeout=TIMEOUT)
        self.assertIs(refreshed, session.token)
        self.assertNotEqual(refreshed["access_token"], first_access)
        self.assertNotEqual(refreshed["refresh_token"], first_refresh)
        self.assertEqual(refreshed["expires_in"], 3600)

        answer = session.get(url("/v2/whoami"), timeout=TIMEOUT)
        self.assertEqual(answer.status_code, 200, answer.text)
        self.assertEqual(answer.request.headers["Authorization"],
                         "Bearer " + refreshed["access_token"])
        self.assertEqual(answer.json()["client_id"], self.client["client_id"])

        # The used refresh token is spent: oauthlib maps the answer to its
        # InvalidGrantError (RFC 6749 §5.2, RFC 9700 §4.14.2).
        with self.assertRaises(oauthlib_errors.InvalidGrantError):
            self.session().refresh_token(url("/v2/auth/token"),
                                         refresh_token=first_refresh,
                                         auth=self.basic(), timeout=TIMEOUT)

    def test_refresh_with_credentials_in_the_body(self):
        """The platform's documented refresh call sends client_id and
        client_secret in the form; requests-oauthlib does that with extra
        keyword arguments and no auth."""
        session = self.session()
        session.fetch_token(token_url=url("/v2/auth/token"),
                            auth=self.basic(), timeout=TIMEOUT)
        old = session.token["refresh_token"]
        refreshed = session.refresh_token(
            url("/v2/auth/token"), timeout=TIMEOUT,
            client_id=self.client["client_id"],
            client_secret=self.client["client_secret"])
        self.assertNotEqual(refreshed["refresh_token"], old)
        self.assertEqual(session.get(url("/v2/whoami"),
                                     timeout=TIMEOUT).status_code, 200)

    def test_scope_is_narrowed_and_echoed(self):
        session = self.session(scope=["read"])
        token = session.fetch_token(token_url=url("/v2/auth/token"),
                                    auth=self.basic(), timeout=TIMEOUT)
        # oauthlib raises a Warning if the answered scope differs.
        self.assertEqual(token["scope"], ["read"])
        self.assertEqual(jwt_parts(token["access_token"])[1]["scope"], "read")
        refreshed = session.refresh_token(url("/v2/auth/token"),
                                          auth=self.basic(), timeout=TIMEOUT)
        self.assertEqual(refreshed["scope"], ["read"])

    def test_wrong_secret_is_invalid_client(self):
        with self.assertRaises(oauthlib_errors.InvalidClientError) as caught:
            self.session().fetch_token(token_url=url("/v2/auth/token"),
                                       auth=self.basic("not-the-secret"),
                                       timeout=TIMEOUT)
        self.assertEqual(caught.exception.error, "invalid_client")

    def test_scope_outside_the_client_is_invalid_scope(self):
        session = self.session(scope=["admin"])
        with self.assertRaises(oauthlib_errors.InvalidScopeError):
            session.fetch_token(token_url=url("/v2/auth/token"),
                                auth=self.basic(), timeout=TIMEOUT)


class Authlib(unittest.TestCase):
    """authlib's requests client, its JOSE implementation, and its RFC 7009
    and RFC 7662 helpers."""

    @classmethod
    def setUpClass(cls):
        cls.client = SERVER.create_client(name="authlib", scope="read write")
        cls.other = SERVER.create_client(name="authlib other", scope="read")
        cls.jwks = requests.get(url("/.well-known/jwks.json"),
                                timeout=TIMEOUT).json()

    def session(self, method="client_secret_basic", client=None, **kwargs):
        client = client or self.client
        session = AuthlibSession(client["client_id"], client["client_secret"],
                                 token_endpoint_auth_method=method,
                                 revocation_endpoint_auth_method=method,
                                 **kwargs)
        self.addCleanup(session.close)
        return session

    def fetch(self, session, **kwargs):
        return session.fetch_token(url("/v2/auth/token"),
                                   grant_type="client_credentials",
                                   timeout=TIMEOUT, **kwargs)

    def verify(self, access_token, issuer=None, audience=None, now=None,
               algorithms=("ES256",)):
        issuer = issuer or SERVER.issuer
        claims = JsonWebToken(list(algorithms)).decode(
            access_token, JsonWebKey.import_key_set(self.jwks),
            claims_options={
                "iss": {"essential": True, "value": issuer},
                "aud": {"essential": True, "value": audience or issuer},
                "exp": {"essential": True},
                "sub": {"essential": True},
            })
        claims.validate(now=now)
        return claims

    def test_client_secret_basic_and_post(self):
        for method in ("client_secret_basic", "client_secret_post"):
            with self.subTest(method=method):
                session = self.session(method)
                requests_seen = []
                session.hooks["response"].append(
                    lambda answer, *a, **k: requests_seen.append(
                        answer.request))
                token = self.fetch(session)
                self.assertEqual(token["token_type"].lower(), "bearer")
                self.assertEqual(token["expires_in"], 3600)
                self.assertIn("refresh_token", token)
                self.assertFalse(token.is_expired())

                sent = requests_seen[-1]
                if method == "client_secret_basic":
                    self.assertTrue(
                        sent.headers["Authorization"].startswith("Basic "))
                    self.assertNotIn("client_secret", sent.body)
                else:
                    self.assertNotIn("Authorization", sent.headers)
                    self.assertIn("client_secret=", sent.body)

                answer = session.get(url("/v2/whoami"), timeout=TIMEOUT)
                self.assertEqual(answer.status_code, 200, answer.text)
                self.assertEqual(answer.json()["client_id"],
                                 self.client["client_id"])

    def test_refresh_token(self):
        for method in ("client_secret_basic", "client_secret_post"):
            with self.subTest(method=method):
                session = self.session(method)
                first = dict(self.fetch(session))
                refreshed = session.refresh_token(url("/v2/auth/token"),
                                                  timeout=TIMEOUT)
                self.assertNotEqual(refreshed["access_token"],
                                    first["access_token"])
                self.assertNotEqual(refreshed["refresh_token"],
                                    first["refresh_token"])
                self.assertEqual(session.token["access_token"],
                                 refreshed["access_token"])
                answer = session.get(url("/v2/whoami"), timeout=TIMEOUT)
                self.assertEqual(answer.status_code, 200, answer.text)
                self.verify(refreshed["access_token"])

                # Replaying the spent one: authlib raises its OAuthError.
                with self.assertRaises(AuthlibOAuthError) as caught:
                    self.session(method).refresh_token(
                        url("/v2/auth/token"),
                        refresh_token=first["refresh_token"], timeout=TIMEOUT)
                self.assertEqual(caught.exception.error, "invalid_grant")

    def test_scope_parameter(self):
        session = self.session(scope="read")
        token = self.fetch(session)
        self.assertEqual(token["scope"], "read")
        claims = self.verify(token["access_token"])
        self.assertEqual(claims["scope"], "read")
        refreshed = session.refresh_token(url("/v2/auth/token"),
                                          timeout=TIMEOUT)
        self.assertEqual(refreshed["scope"], "read")

    def test_wrong_secret_is_invalid_client(self):
        for method in ("client_secret_basic", "client_secret_post"):
            with self.subTest(method=method):
                wrong = dict(self.client, client_secret="x" + self.client[
                    "client_secret"][1:])
                with self.assertRaises(AuthlibOAuthError) as caught:
                    self.fetch(self.session(method, client=wrong))
                self.assertEqual(caught.exception.error, "invalid_client")

    def test_jose_verifies_the_access_token_against_the_jwks(self):
        token = self.fetch(self.session())
        access = token["access_token"]
        claims = self.verify(access)
        header = claims.header
        self.assertEqual(header["typ"].lower(), "at+jwt")  # RFC 9068 §2.1
        self.assertEqual(header["alg"], "ES256")
        self.assertIn(header["kid"], [k["kid"] for k in self.jwks["keys"]])
        self.assertEqual(claims["iss"], SERVER.issuer)
        self.assertEqual(claims["aud"], SERVER.issuer)
        self.assertEqual(claims["client_id"], self.client["client_id"])
        self.assertEqual(claims["sub"], self.client["client_id"])
        self.assertEqual(claims["scope"].split(), ["read", "write"])
        self.assertEqual(claims["exp"] - claims["iat"], 3600)
        self.assertTrue(claims["jti"])

        # Each check can fail: wrong issuer, wrong audience, past expiry.
        with self.assertRaises(jose_errors.InvalidClaimError):
            self.verify(access, issuer="http://127.0.0.1:1")
        with self.assertRaises(jose_errors.InvalidClaimError):
            self.verify(access, audience="https://other.example")
        with self.assertRaises(jose_errors.ExpiredTokenError):
            self.verify(access, now=claims["exp"] + 1)

    def test_jose_rejects_a_tampered_token(self):
        access = self.fetch(self.session())["access_token"]
        header, payload, signature = access.split(".")
        claims = jwt_parts(access)[1]
        claims["scope"] = "read write admin"
        forged_payload = json.dumps(claims, separators=(",", ":")).encode()
        import base64
        forged = ".".join([header, base64.urlsafe_b64encode(
            forged_payload).rstrip(b"=").decode(), signature])
        with self.assertRaises(jose_errors.BadSignatureError):
            self.verify(forged)
        # A flipped signature bit too.
        flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + \
            signature[-1]
        with self.assertRaises(jose_errors.BadSignatureError):
            self.verify(".".join([header, payload, flipped]))
        # And tokend refuses both as well (RFC 6750 §3.1).
        for bad in (forged, ".".join([header, payload, flipped])):
            with requests.get(url("/v2/whoami"), timeout=TIMEOUT,
                              headers={"Authorization": "Bearer " + bad}) \
                    as answer:
                pass
            self.assertEqual(answer.status_code, 401)
            self.assertIn('error="invalid_token"',
                          answer.headers["WWW-Authenticate"])

    @unittest.skipUnless(hasattr(AuthlibSession, "introspect_token") and
                         hasattr(AuthlibSession, "revoke_token"),
                         f"authlib {authlib.__version__} lacks them")
    def test_introspect_and_revoke(self):
        for method in ("client_secret_basic", "client_secret_post"):
            with self.subTest(method=method):
                session = self.session(method)
                token = dict(self.fetch(session))
                access = token["access_token"]

                answer = session.introspect_token(
                    url("/v2/auth/introspect"), token=access,
                    token_type_hint="access_token", timeout=TIMEOUT)
                self.assertEqual(answer.status_code, 200, answer.text)
                info = answer.json()
                self.assertIs(info["active"], True)
                self.assertEqual(info["client_id"], self.client["client_id"])
                self.assertEqual(info["scope"].split(), ["read", "write"])
                self.assertEqual(info["iss"], SERVER.issuer)
                self.assertEqual(info["sub"], self.client["client_id"])

                answer = session.introspect_token(
                    url("/v2/auth/introspect"), token=token["refresh_token"],
                    token_type_hint="refresh_token", timeout=TIMEOUT)
                self.assertIs(answer.json()["active"], True)

                # Another client cannot see or revoke these (RFC 7662 §2.2,
                # RFC 7009 §2.1).
                other = self.session(method, client=self.other)
                answer = other.introspect_token(url("/v2/auth/introspect"),
                                                token=access, timeout=TIMEOUT)
                self.assertEqual(answer.json(), {"active": False})
                answer = other.revoke_token(url("/v2/auth/revoke"),
                                            token=access, timeout=TIMEOUT)
                self.assertEqual(answer.status_code, 200)
                time.sleep(REVOCATION_DELAY + 0.1)  # past any propagation
                self.assertEqual(session.get(url("/v2/whoami"),
                                             timeout=TIMEOUT).status_code, 200)

                answer = session.revoke_token(url("/v2/auth/revoke"),
                                              token=access,
                                              token_type_hint="access_token",
                                              timeout=TIMEOUT)
                self.assertEqual(answer.status_code, 200, answer.text)
                answer = eventually(
                    lambda: session.get(url("/v2/whoami"), timeout=TIMEOUT),
                    lambda answer: answer.status_code == 401)
                self.assertEqual(answer.status_code, 401)
                self.assertIn('error="invalid_token"',
                              answer.headers["WWW-Authenticate"])
                answer = eventually(
                    lambda: session.introspect_token(
                        url("/v2/auth/introspect"), token=access,
                        timeout=TIMEOUT),
                    lambda answer: answer.json() == {"active": False})
                self.assertEqual(answer.json(), {"active": False})

                # Revoking the refresh token kills its family.
                answer = session.revoke_token(url("/v2/auth/revoke"),
                                              token=token["refresh_token"],
                                              timeout=TIMEOUT)
                self.assertEqual(answer.status_code, 200, answer.text)
                with self.assertRaises(AuthlibOAuthError) as caught:
                    session.refresh_token(url("/v2/auth/token"),
                                          refresh_token=token["refresh_token"],
                                          timeout=TIMEOUT)
                self.assertEqual(caught.exception.error, "invalid_grant")

                # Unknown tokens: 200, as RFC 7009 §2.2 says.
                answer = session.revoke_token(url("/v2/auth/revoke"),
                                              token="not-a-token",
                                              timeout=TIMEOUT)
                self.assertEqual(answer.status_code, 200, answer.text)


class AuthlibEdDSA(unittest.TestCase):
    """The EdDSA signing setting, verified by authlib.jose the same way."""

    @classmethod
    def setUpClass(cls):
        cls.server = start_tokend("--signing-algorithm", "EdDSA")
        try:
            cls.client = cls.server.create_client(name="eddsa")
        except Exception:
            cls.server.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_eddsa_token_verifies(self):
        session = AuthlibSession(self.client["client_id"],
                                 self.client["client_secret"])
        self.addCleanup(session.close)
        token = session.fetch_token(self.server.url("/v2/auth/token"),
                                    grant_type="client_credentials",
                                    timeout=TIMEOUT)
        jwks = requests.get(self.server.url("/.well-known/jwks.json"),
                            timeout=TIMEOUT).json()
        claims = JsonWebToken(["EdDSA"]).decode(
            token["access_token"], JsonWebKey.import_key_set(jwks),
            claims_options={
                "iss": {"essential": True, "value": self.server.issuer},
                "aud": {"essential": True, "value": self.server.issuer},
                "exp": {"essential": True},
            })
        claims.validate()
        self.assertEqual(claims.header["alg"], "EdDSA")
        self.assertEqual(claims.header["typ"].lower(), "at+jwt")
        # An ES256-only verifier must refuse it.
        with self.assertRaises(jose_errors.JoseError):
            JsonWebToken(["ES256"]).decode(token["access_token"],
                                           JsonWebKey.import_key_set(jwks))


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
