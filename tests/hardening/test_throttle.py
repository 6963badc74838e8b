"""Brute force (issue 6): failed client authentications are counted per
client ID and source address together; past --auth-failure-limit in
--auth-failure-window seconds, that pair gets 429 with Retry-After, even
with the right secret, until the window ends. Other clients on the same
address keep full speed, and spraying many client IDs from one address is
not blocked (per-pair limits only: see docs/security.md for why, and for
the log lines an external fail2ban can act on)."""

import http.client
import json
import os
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.environ.get("TOKEND_SOURCE", "."),
                                "tests/support"))

from tokend_harness import TokendTestCase, basic_header  # noqa: E402

LIMIT = 5
WINDOW = 5
PHASE_SECONDS = 1.5
FORM = "application/x-www-form-urlencoded"


class KeepAlive:
    """One keep-alive connection that posts token requests."""

    def __init__(self, port):
        self.port = port
        self.connection = None

    def post(self, path, client_id, secret, body=None):
        headers = {"Content-Type": FORM}
        if body is None:
            headers["Authorization"] = basic_header(client_id, secret)
            body = "grant_type=client_credentials"
        for _ in range(3):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=10)
            try:
                self.connection.request("POST", path, body=body,
                                        headers=headers)
                answer = self.connection.getresponse()
                answer.read()
                return answer.status, answer.getheader("Retry-After")
            except (http.client.HTTPException, OSError):
                self.close()
        raise RuntimeError("tokend kept closing the connection")

    def token(self, client_id, secret):
        return self.post("/v2/auth/token", client_id, secret)

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def run_for(seconds, step):
    """Calls step() until seconds have passed (and at most 100,000 times);
    returns what each call returned and the seconds it took."""
    results = []
    started = time.monotonic()
    while time.monotonic() - started < seconds and len(results) < 100000:
        results.append(step())
    return results, time.monotonic() - started


class ThrottleTest(TokendTestCase):

    @classmethod
    def setUpClass(cls):
        cls.tokend = cls.start_class_tokend(
            "--auth-failure-limit", str(LIMIT),
            "--auth-failure-window", str(WINDOW),
            "--cache-refresh-interval-ms", "20")

    def keep_alive(self):
        connection = KeepAlive(self.tokend.port)
        self.addCleanup(connection.close)
        return connection

    def new_client(self, name):
        """A client that tokend has loaded, made without failed attempts
        (the harness's wait would count against the new client)."""
        client = json.loads(self.tokend.tokenctl(
            "client", "create", "--name", name, "--json").stdout)
        connection = self.keep_alive()
        failures = 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(0.1)  # five cache polls
            status, _ = connection.token(client["client_id"],
                                         client["client_secret"])
            if status == 200:
                break
            failures += 1
        self.assertEqual(status, 200, "tokend did not load the new client")
        if failures:
            time.sleep(WINDOW + 1)  # a busy machine: let them expire
        return client

    def assert_blocked(self, status, retry_after):
        self.assertEqual(status, 429)
        self.assertIsNotNone(retry_after, "429 without Retry-After")
        self.assertGreaterEqual(int(retry_after), 1)
        self.assertLessEqual(int(retry_after), WINDOW)

    def test_guessing_is_blocked_while_another_client_keeps_full_speed(self):
        victim = self.new_client("victim")
        bystander = self.new_client("bystander")
        guesser, worker = self.keep_alive(), self.keep_alive()

        def bystander_step():
            return worker.token(bystander["client_id"],
                                bystander["client_secret"])[0]

        alone, alone_seconds = run_for(PHASE_SECONDS, bystander_step)

        guesses = []
        attack = threading.Thread(target=lambda: guesses.extend(run_for(
            PHASE_SECONDS, lambda: guesser.token(victim["client_id"],
                                                 "0" * 64))[0]))
        attack.start()
        during, during_seconds = run_for(PHASE_SECONDS, bystander_step)
        attack.join(timeout=30)

        alone_rate = len(alone) / alone_seconds
        during_rate = len(during) / during_seconds
        guess_rate = len(guesses) / PHASE_SECONDS
        print(f"bystander alone {alone_rate:.0f}/s, during the attack "
              f"{during_rate:.0f}/s; guesses {guess_rate:.0f}/s "
              f"({sum(1 for s, _ in guesses if s == 429)} answered 429)",
              file=sys.stderr)

        # The guesser: LIMIT refusals, then only 429 with Retry-After.
        statuses = [status for status, _ in guesses]
        self.assertEqual(statuses[:LIMIT], [401] * LIMIT)
        self.assertGreater(len(statuses), LIMIT + 10)
        for status, retry_after in guesses[LIMIT:]:
            self.assert_blocked(status, retry_after)

        # The bystander: never refused, and not slowed beyond what sharing
        # two cores with the guessing loop costs.
        self.assertEqual(set(alone) | set(during), {200})
        self.assertGreater(during_rate, 0.4 * alone_rate)

        # While blocked, even the right secret gets 429, by either method
        # and on every endpoint that authenticates clients.
        fresh = self.keep_alive()
        self.assert_blocked(*fresh.token(victim["client_id"],
                                         victim["client_secret"]))
        body = urllib.parse.urlencode({
            "grant_type": "client_credentials",
            "client_id": victim["client_id"],
            "client_secret": victim["client_secret"]})
        self.assert_blocked(*fresh.post("/v2/auth/token", None, None, body))
        for path in ("/v2/auth/introspect", "/v2/auth/revoke"):
            form = urllib.parse.urlencode({"token": "x"})
            fresh.close()
            connection = http.client.HTTPConnection("127.0.0.1",
                                                    self.tokend.port,
                                                    timeout=10)
            connection.request("POST", path, body=form, headers={
                "Content-Type": FORM,
                "Authorization": basic_header(victim["client_id"],
                                              victim["client_secret"])})
            answer = connection.getresponse()
            answer.read()
            connection.close()
            self.assert_blocked(answer.status, answer.getheader("Retry-After"))

        # The block lifts when the window ends.
        status, retry_after = fresh.token(victim["client_id"],
                                          victim["client_secret"])
        self.assert_blocked(status, retry_after)
        time.sleep(int(retry_after) + 0.2)
        deadline = time.monotonic() + 3
        while status == 429 and time.monotonic() < deadline:
            time.sleep(0.1)
            status, _ = fresh.token(victim["client_id"],
                                    victim["client_secret"])
        self.assertEqual(status, 200)

        throttled = self.tokend.log_records_where(
            client_id=victim["client_id"], reason="throttled")
        self.assertTrue(throttled, "a throttled request left no log line")

    def test_an_unknown_client_is_throttled_the_same(self):
        # Otherwise the throttle itself would tell known IDs from unknown.
        connection = self.keep_alive()
        unknown = "unknown-" + os.urandom(8).hex()
        answers = [connection.token(unknown, "0" * 64)
                   for _ in range(LIMIT + 3)]
        self.assertEqual([status for status, _ in answers[:LIMIT]],
                         [401] * LIMIT)
        for answer in answers[LIMIT:]:
            self.assert_blocked(*answer)

    def test_spraying_many_client_ids_from_one_address_is_not_blocked(self):
        # Per-pair limits only: one failure for each of many IDs is never
        # blocked here. Each leaves an access log line with the client ID,
        # the reason and the address, for a fail2ban outside tokend.
        connection = self.keep_alive()
        sprayed = ["spray-" + os.urandom(8).hex() for _ in range(4 * LIMIT)]
        statuses = [connection.token(client_id, "0" * 64)[0]
                    for client_id in sprayed]
        self.assertEqual(statuses, [401] * len(sprayed))
        log = self.tokend.log_records()
        for client_id in sprayed:
            records = [record for record in log
                       if record.get("client_id") == client_id]
            self.assertEqual(len(records), 1, client_id)
            self.assertEqual(records[0].get("reason"), "unknown_client")
            self.assertEqual(records[0].get("remote"), "127.0.0.1")
            self.assertEqual(records[0].get("status"), "401")


if __name__ == "__main__":
    unittest.main()
