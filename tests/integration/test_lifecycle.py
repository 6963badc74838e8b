"""The token lifecycle of issue 3 against the real tokend and tokenctl:
revocation (RFC 7009), introspection (RFC 7662), the gateway check, the
operator's commands, how fast each change reaches the running server, and
the audit log."""

import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.environ.get("TOKEND_SOURCE", "."),
                                "tests/support"))

from tokend_harness import (TokendTestCase, jwt_parts,  # noqa: E402
                            parse_logfmt, wait_until)

# The issue's promise: a change is in force within one second.
WITHIN = 1.0
ACTIVE_FIELDS = ["active", "scope", "client_id", "sub", "exp", "iat", "iss",
                 "aud", "token_type", "jti"]


class LifecycleTestCase(TokendTestCase):

    @classmethod
    def setUpClass(cls):
        cls.tokend = cls.start_class_tokend("--auth-failure-limit", "0")
        cls.client = cls.tokend.create_client("owner", scope="read write",
                                              subject="member-1")
        cls.other = cls.tokend.create_client("bystander", scope="read")
        cls.gateway = cls.tokend.create_client("gateway",
                                               permission="introspect")
        cls.secrets = [c["client_secret"]
                       for c in (cls.client, cls.other, cls.gateway)]

    def issue(self, client=None, **fields):
        body = self.tokend.issue(client or self.client, **fields)
        self.secrets.extend([body["access_token"], body["refresh_token"]])
        return body

    def refused_everywhere(self, access_token):
        """True once check, whoami and introspection all refuse it."""
        check = self.tokend.check(access_token)
        whoami = self.tokend.bearer("GET", "/v2/whoami", access_token)
        introspection = self.tokend.introspect(self.gateway, access_token)
        return (check.status == 401 and whoami.status == 401 and
                introspection.json() == {"active": False})

    def assert_refused_within_a_second(self, access_token):
        refused, elapsed = wait_until(
            lambda: self.refused_everywhere(access_token), timeout=3)
        self.assertTrue(refused, "the token is still accepted")
        self.assertLess(elapsed, WITHIN)
        self.assert_bearer_refused(self.tokend.check(access_token))
        self.assert_bearer_refused(
            self.tokend.bearer("GET", "/v2/whoami", access_token))

    def assert_accepted(self, access_token):
        self.assertEqual(self.tokend.check(access_token).status, 200)
        self.assertEqual(
            self.tokend.bearer("GET", "/v2/whoami", access_token).status, 200)
        self.assertTrue(
            self.tokend.introspect(self.gateway, access_token)
            .json()["active"])

    def assert_empty_200(self, answer):
        self.assertEqual(answer.status, 200, answer)
        self.assert_no_store(answer)
        self.assertTrue(answer.header("X-Request-Id"))


class RevocationTest(LifecycleTestCase):

    def test_revoke_refresh_token_kills_its_family(self):
        first = self.issue()["refresh_token"]
        second = self.tokend.refresh(self.client, first).json()
        self.secrets.append(second["refresh_token"])
        self.assert_empty_200(self.tokend.revoke(
            self.client, second["refresh_token"],
            token_type_hint="refresh_token"))
        self.assert_oauth_error(
            self.tokend.refresh(self.client, second["refresh_token"]), 400,
            "invalid_grant")
        # Revoking an earlier generation takes the newest with it too.
        first = self.issue()["refresh_token"]
        newest = self.tokend.refresh(self.client, first).json()
        self.assert_empty_200(self.tokend.revoke(self.client, first))
        self.assert_oauth_error(
            self.tokend.refresh(self.client, newest["refresh_token"]), 400,
            "invalid_grant")

    def test_revoke_fresh_refresh_token(self):
        # Never refreshed, so its family has no row in the store yet.
        token = self.issue()["refresh_token"]
        self.assert_empty_200(self.tokend.revoke(self.client, token))
        self.assert_oauth_error(self.tokend.refresh(self.client, token), 400,
                                "invalid_grant")
        self.assertEqual(self.tokend.introspect(self.gateway, token).json(),
                         {"active": False})

    def test_revoke_access_token(self):
        token = self.issue()["access_token"]
        self.assert_accepted(token)
        self.assert_empty_200(self.tokend.revoke(
            self.client, token, token_type_hint="access_token"))
        self.assert_refused_within_a_second(token)
        # Revoking it again, or with a wrong hint, is still 200.
        self.assert_empty_200(self.tokend.revoke(self.client, token))
        self.assert_empty_200(self.tokend.revoke(
            self.client, token, token_type_hint="refresh_token"))

    def test_revoking_an_access_token_leaves_its_refresh_token(self):
        body = self.issue()
        self.assert_empty_200(self.tokend.revoke(self.client,
                                                 body["access_token"]))
        answer = self.tokend.refresh(self.client, body["refresh_token"])
        self.assertEqual(answer.status, 200, answer)

    def test_revoke_with_an_unknown_hint(self):
        # RFC 7009 §2.1: the hint only speeds the lookup up; a server
        # must find the token whatever the hint says.
        token = self.issue()["access_token"]
        self.assert_empty_200(self.tokend.revoke(
            self.client, token, token_type_hint="something_else"))
        self.assert_refused_within_a_second(token)
        refresh = self.issue()["refresh_token"]
        self.assert_empty_200(self.tokend.revoke(
            self.client, refresh, token_type_hint="access_token"))
        self.assert_oauth_error(self.tokend.refresh(self.client, refresh),
                                400, "invalid_grant")

    def test_revoke_unknown_token(self):
        for token in ["garbage", "a.b.c", "x" * 400,
                      "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"]:
            with self.subTest(token=token[:20]):
                self.assert_empty_200(self.tokend.revoke(self.client, token))

    def test_revoke_another_clients_token_does_nothing(self):
        body = self.issue()
        # The introspect permission lets a client read others' tokens,
        # not revoke them.
        for caller in (self.other, self.gateway):
            for token in (body["access_token"], body["refresh_token"]):
                self.assert_empty_200(self.tokend.revoke(caller, token))
        # Wait past a cache poll: had it been revoked, it would show.
        time.sleep(0.5)
        self.assert_accepted(body["access_token"])
        answer = self.tokend.refresh(self.client, body["refresh_token"])
        self.assertEqual(answer.status, 200, answer)

    def test_revoke_without_token(self):
        answer = self.tokend.post_form("/v2/auth/revoke", {},
                                       self.tokend.basic_auth(self.client))
        self.assert_oauth_error(answer, 400, "invalid_request")

    def test_revoke_needs_client_authentication(self):
        token = self.issue()["access_token"]
        self.assert_invalid_client(
            self.tokend.post_form("/v2/auth/revoke", {"token": token}))
        self.assert_invalid_client(self.tokend.revoke(
            dict(self.client, client_secret="wrong"), token))
        time.sleep(0.3)
        self.assert_accepted(token)

    def test_revoke_with_credentials_in_the_body(self):
        token = self.issue()["access_token"]
        answer = self.tokend.post_form("/v2/auth/revoke", {
            "token": token, "client_id": self.client["client_id"],
            "client_secret": self.client["client_secret"]})
        self.assert_empty_200(answer)
        self.assert_refused_within_a_second(token)


class IntrospectionTest(LifecycleTestCase):

    def test_active_access_token(self):
        token = self.issue(scope="read")["access_token"]
        claims = jwt_parts(token)[1]
        for caller in (self.client, self.gateway):
            with self.subTest(caller=caller["client_id"]):
                answer = self.tokend.introspect(caller, token)
                self.assertEqual(answer.status, 200, answer)
                self.assert_no_store(answer)
                body = answer.json()
                for field in ACTIVE_FIELDS:
                    self.assertIn(field, body)
                self.assertIs(body["active"], True)
                self.assertEqual(body["scope"], "read")
                self.assertEqual(body["client_id"], self.client["client_id"])
                self.assertEqual(body["sub"], "member-1")
                for claim in ("exp", "iat", "iss", "aud", "jti"):
                    self.assertEqual(body[claim], claims[claim], claim)
                self.assertEqual(body["token_type"].lower(), "bearer")

    def test_active_refresh_token(self):
        token = self.issue()["refresh_token"]
        body = self.tokend.introspect(self.client, token,
                                      token_type_hint="refresh_token").json()
        self.assertIs(body["active"], True)
        self.assertEqual(body["client_id"], self.client["client_id"])
        self.assertEqual(sorted(body["scope"].split()), ["read", "write"])
        self.assertGreater(body["exp"], time.time())
        # Once rotated, the old one is inactive.
        self.tokend.refresh(self.client, token)
        self.assertEqual(self.tokend.introspect(self.client, token).json(),
                         {"active": False})

    def test_inactive_tokens(self):
        revoked = self.issue()["access_token"]
        self.tokend.revoke(self.client, revoked)
        self.assertTrue(wait_until(lambda: self.refused_everywhere(revoked),
                                   timeout=2)[0])
        stranger = self.start_tokend()
        foreign_client = stranger.create_client("foreign")
        foreign = stranger.issue(foreign_client)["access_token"]
        header, claims, signature = self.issue()["access_token"].split(".")
        tampered = header + "." + claims + "." + signature[::-1]
        for name, token in [("revoked", revoked), ("malformed", "a.b.c"),
                            ("garbage", "garbage"), ("unknown", foreign),
                            ("tampered", tampered)]:
            with self.subTest(token=name):
                answer = self.tokend.introspect(self.gateway, token)
                self.assertEqual(answer.status, 200, answer)
                self.assertEqual(answer.json(), {"active": False})

    def test_reused_family_is_inactive(self):
        first = self.issue()["refresh_token"]
        newest = self.tokend.refresh(self.client, first).json()
        self.assertIs(self.tokend.introspect(
            self.client, newest["refresh_token"]).json()["active"], True)
        self.tokend.refresh(self.client, first)  # reuse: family revoked
        self.assertEqual(self.tokend.introspect(
            self.client, newest["refresh_token"],
            token_type_hint="access_token").json(), {"active": False})

    def test_another_clients_token(self):
        token = self.issue()["access_token"]
        refresh = self.issue()["refresh_token"]
        for mine in (token, refresh):
            self.assertEqual(self.tokend.introspect(self.other, mine).json(),
                             {"active": False})
            self.assertIs(
                self.tokend.introspect(self.gateway, mine).json()["active"],
                True)

    def test_introspection_needs_client_authentication(self):
        token = self.issue()["access_token"]
        self.assert_invalid_client(
            self.tokend.post_form("/v2/auth/introspect", {"token": token}))
        self.assert_invalid_client(self.tokend.introspect(
            dict(self.gateway, client_secret="wrong"), token))

    def test_introspection_without_token(self):
        answer = self.tokend.post_form("/v2/auth/introspect", {},
                                       self.tokend.basic_auth(self.gateway))
        self.assert_oauth_error(answer, 400, "invalid_request")


class GatewayCheckTest(LifecycleTestCase):

    def test_valid_token(self):
        token = self.issue(scope="read")["access_token"]
        answer = self.tokend.check(token)
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual(answer.header("X-Auth-Client-Id"),
                         self.client["client_id"])
        self.assertEqual(answer.header("X-Auth-Subject"), "member-1")
        self.assertEqual(answer.header("X-Auth-Scope"), "read")

    def test_missing_token(self):
        answer = self.tokend.request("GET", "/v2/auth/check")
        self.assert_bearer_refused(answer, error=None)

    def test_bad_tokens(self):
        good = self.issue()["access_token"]
        for token in ["garbage", "a.b.c", good[:-3] + "AAA",
                      good.split(".")[0] + ".e30." + good.split(".")[2]]:
            with self.subTest(token=token[:20]):
                self.assert_bearer_refused(self.tokend.check(token))

    def test_revoked_token(self):
        token = self.issue()["access_token"]
        self.assertEqual(self.tokend.check(token).status, 200)
        self.tokend.revoke(self.client, token)
        self.assert_refused_within_a_second(token)

    def test_required_scope(self):
        token = self.issue(scope="read")["access_token"]
        self.assertEqual(self.tokend.check(token, scope="read").status, 200)
        answer = self.tokend.check(token, scope="write")
        self.assertEqual(answer.status, 403, answer)
        challenge = answer.header("WWW-Authenticate") or ""
        self.assertRegex(challenge, r'^Bearer realm="[^"]+"')
        self.assertIn('error="insufficient_scope"', challenge)
        self.assertEqual(answer.json()["error"], "insufficient_scope")
        both = self.issue()["access_token"]
        self.assertEqual(self.tokend.check(both, scope="write").status, 200)

    def test_check_is_get_only(self):
        answer = self.tokend.request("POST", "/v2/auth/check")
        self.assertEqual(answer.status, 405)
        self.assertIn("GET", answer.header("Allow"))


class OperatorTest(LifecycleTestCase):

    def test_tokenctl_revoke_access_token(self):
        token = self.issue()["access_token"]
        self.assert_accepted(token)
        self.tokend.tokenctl("revoke", token)
        self.assert_refused_within_a_second(token)

    def test_tokenctl_revoke_refresh_token(self):
        token = self.issue()["refresh_token"]
        self.tokend.tokenctl("revoke", token)
        self.assert_oauth_error(self.tokend.refresh(self.client, token), 400,
                                "invalid_grant")

    def test_tokenctl_revoke_tokens_of_a_client(self):
        client = self.tokend.create_client("compromised")
        first = self.tokend.issue(client)
        second = self.tokend.issue(client)
        self.tokend.tokenctl("client", "revoke-tokens", client["client_id"])
        for body in (first, second):
            self.assert_refused_within_a_second(body["access_token"])
            self.assert_oauth_error(
                self.tokend.refresh(client, body["refresh_token"]), 400,
                "invalid_grant")
        # The client itself still works: new tokens are good.
        fresh = self.tokend.issue(client)
        self.assertEqual(self.tokend.check(fresh["access_token"]).status, 200)
        answer = self.tokend.refresh(client, fresh["refresh_token"])
        self.assertEqual(answer.status, 200, answer)

    def test_disable_and_enable(self):
        client = self.tokend.create_client("suspended")
        body = self.tokend.issue(client)
        self.tokend.tokenctl("client", "disable", client["client_id"])
        self.assert_refused_within_a_second(body["access_token"])
        self.assert_invalid_client(self.tokend.token(client))

        self.tokend.tokenctl("client", "enable", client["client_id"])
        answer, elapsed = wait_until(
            lambda: self.tokend.token(client).status == 200, timeout=3)
        self.assertTrue(answer)
        self.assertLess(elapsed, WITHIN)

    def test_disabled_client_cannot_refresh(self):
        client = self.tokend.create_client("disabled refresher")
        token = self.tokend.issue(client)["refresh_token"]
        self.tokend.tokenctl("client", "disable", client["client_id"])
        refused, elapsed = wait_until(
            lambda: self.tokend.refresh(client, token).status == 401,
            timeout=3)
        self.assertTrue(refused)
        self.assertLess(elapsed, WITHIN)
        self.assert_invalid_client(self.tokend.refresh(client, token))

    def test_new_client_is_served_within_a_second(self):
        created = self.tokend.tokenctl("client", "create", "--name", "new",
                                       "--json")
        client = json.loads(created.stdout)
        served, elapsed = wait_until(
            lambda: self.tokend.token(client).status == 200, timeout=3)
        self.assertTrue(served)
        self.assertLess(elapsed, WITHIN)

    def test_rotate_secret(self):
        client = self.tokend.create_client("rotating")
        result = self.tokend.tokenctl("client", "rotate-secret",
                                      client["client_id"], "--json")
        rotated = dict(client, client_secret=json.loads(
            result.stdout)["client_secret"])
        self.assertNotEqual(rotated["client_secret"], client["client_secret"])
        self.secrets.append(rotated["client_secret"])

        def switched():
            return (self.tokend.token(rotated).status == 200 and
                    self.tokend.token(client).status == 401)

        done, elapsed = wait_until(switched, timeout=3)
        self.assertTrue(done, "the new secret is not in force")
        self.assertLess(elapsed, WITHIN)
        self.assert_invalid_client(self.tokend.token(client))
        self.assert_invalid_client(self.tokend.token(client, basic=False))

    def test_client_changes_are_audited(self):
        client = self.tokend.create_client("audited")
        outputs = []
        for command in (["client", "disable"], ["client", "enable"],
                        ["client", "rotate-secret"],
                        ["client", "revoke-tokens"], ["client", "delete"]):
            outputs.append(self.tokend.tokenctl(*command,
                                                client["client_id"]))
        events = [parse_logfmt(line) for result in outputs
                  for line in result.stderr.splitlines()
                  if line.startswith("time=")]
        messages = [event["msg"] for event in events
                    if event.get("client_id") == client["client_id"]]
        self.assertEqual(len(messages), 5, messages)
        text = "".join(result.stderr for result in outputs)
        self.assertNotIn(client["client_secret"], text)
        rotated_secret = outputs[2].stdout.split()[-1]
        self.assertNotIn(rotated_secret, text)


class AuditTest(LifecycleTestCase):

    def test_audit_events_without_secrets(self):
        body = self.issue()
        refreshed = self.tokend.refresh(self.client,
                                        body["refresh_token"]).json()
        self.secrets.extend([refreshed["access_token"],
                             refreshed["refresh_token"]])
        self.tokend.refresh(self.client, body["refresh_token"])  # reuse
        self.tokend.revoke(self.client, refreshed["access_token"])
        self.tokend.revoke(self.client, self.issue()["refresh_token"])

        # Each event is on a line an operator can grep for: its event (or
        # message) names what happened, its fields say to whom.
        owner = self.tokend.log_records_where(
            client_id=self.client["client_id"])
        for pattern, fields in [
                (r"token.issued", {"grant": "client_credentials"}),
                (r"token.refreshed", {"grant": "refresh_token"}),
                (r"reuse", {}),
                (r"access.token.revoked", {}),
                (r"refresh.token.revoked", {})]:
            with self.subTest(event=pattern, **fields):
                self.assertTrue(
                    [record for record in owner
                     if re.search(pattern, record.get("event", "") + " " +
                                  record["msg"]) and
                     all(record.get(k) == v for k, v in fields.items())],
                    pattern)
        self.assert_not_logged(self.tokend, self.secrets)


class RestartTest(TokendTestCase):

    def test_revocations_and_rotations_survive_a_restart(self):
        tokend = self.start_tokend()
        client = tokend.create_client("durable")
        revoked = tokend.issue(client)["access_token"]
        self.assertEqual(tokend.revoke(client, revoked).status, 200)
        used = tokend.issue(client)["refresh_token"]
        current = tokend.refresh(client, used).json()["refresh_token"]
        revoked_family = tokend.issue(client)["refresh_token"]
        self.assertEqual(tokend.revoke(client, revoked_family).status, 200)

        tokend.stop()
        tokend.start()
        self.assert_bearer_refused(tokend.check(revoked))
        self.assert_oauth_error(tokend.refresh(client, revoked_family), 400,
                                "invalid_grant")
        answer = tokend.refresh(client, current)
        self.assertEqual(answer.status, 200, answer)
        self.assert_oauth_error(tokend.refresh(client, used), 400,
                                "invalid_grant")


class ExpiryTest(TokendTestCase):

    def test_expired_tokens(self):
        tokend = self.start_tokend("--access-token-ttl", "10")
        client = tokend.create_client("short")
        gateway = tokend.create_client("gateway", permission="introspect")
        token = tokend.issue(client)["access_token"]
        self.assertIs(tokend.introspect(client, token).json()["active"],
                      True)
        exp = jwt_parts(token)[1]["exp"]
        time.sleep(max(0, exp + 0.2 - time.time()))
        for caller in (client, gateway):
            self.assertEqual(tokend.introspect(caller, token).json(),
                             {"active": False})
        self.assert_bearer_refused(tokend.check(token))
        # Revoking an expired token is a quiet 200.
        self.assertEqual(tokend.revoke(client, token).status, 200)


if __name__ == "__main__":
    unittest.main()
