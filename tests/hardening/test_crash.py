"""Crash safety (issue 6): under a mixed load of client_credentials and
refresh requests from several threads, tokend is killed with SIGKILL at a
random moment, restarted on the same store, and then every refresh token
that any client got in a 200 answer (and had not used yet) must work
exactly once: its first use 200, a second use of the same token 400
invalid_grant (reuse). The store must pass PRAGMA integrity_check, right
after the kill and at the end. Three rounds, each killed at another moment.

A token that was in flight when the process died (sent, no answer) is not
counted either way: its rotation may or may not have committed, and both
are correct (the client never saw the new token)."""

import http.client
import json
import os
import random
import signal
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

ROUNDS = 3
THREADS = 6
CLIENTS = 3
FORM = "application/x-www-form-urlencoded"


def integrity(path):
    connection = sqlite3.connect(path, timeout=10)
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


class Ledger:
    """What the load saw: refresh tokens held (got in a 200, not used),
    tokens in flight at the kill, and any surprise."""

    def __init__(self):
        self.lock = threading.Lock()
        self.held = []  # (client, refresh token)
        self.in_flight = 0
        self.answers = 0
        self.surprises = []


class Load:
    """THREADS threads that issue and refresh until stopped."""

    def __init__(self, port, clients, ledger):
        self.port = port
        self.clients = clients
        self.ledger = ledger
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(seed,))
                        for seed in range(THREADS)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def join(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def post(self, connection, fields, client, basic):
        headers = {"Content-Type": FORM}
        if basic:
            headers["Authorization"] = basic_header(client["client_id"],
                                                    client["client_secret"])
        else:
            fields = dict(fields, client_id=client["client_id"],
                          client_secret=client["client_secret"])
        connection.request("POST", "/v2/auth/token",
                           body=urllib.parse.urlencode(fields),
                           headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.read()

    def step(self, connection, chooser, mine):
        """One request; mine is this thread's list of held tokens."""
        client = chooser.choice(self.clients)
        presented = None
        if mine and chooser.random() < 0.6:
            client, presented = mine.pop(chooser.randrange(len(mine)))
            fields = {"grant_type": "refresh_token",
                      "refresh_token": presented}
        else:
            fields = {"grant_type": "client_credentials"}
        try:
            status, body = self.post(connection, fields, client,
                                     basic=presented is None)
        except (http.client.HTTPException, OSError):
            if presented is not None:
                with self.ledger.lock:
                    self.ledger.in_flight += 1
            raise
        if status != 200:
            with self.ledger.lock:
                self.ledger.surprises.append((status, body[:200]))
            return
        mine.append((client, json.loads(body)["refresh_token"]))
        with self.ledger.lock:
            self.ledger.answers += 1

    def run(self, seed):
        chooser = random.Random(seed)
        mine = []
        connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                timeout=10)
        try:
            for _ in range(100000):
                if self.stop.is_set():
                    break
                self.step(connection, chooser, mine)
        except (http.client.HTTPException, OSError):
            pass  # tokend was killed
        finally:
            connection.close()
            with self.ledger.lock:
                self.ledger.held.extend(mine)


class CrashTest(TokendTestCase):

    def refresh(self, client, token):
        return self.tokend.refresh(client, token)

    def check_round(self, round_number):
        ledger = Ledger()
        load = Load(self.tokend.port, self.clients, ledger)
        load.start()
        time.sleep(random.uniform(0.3, 1.5))
        self.tokend.stop(signal.SIGKILL)
        load.join()

        self.assertEqual(ledger.surprises, [],
                         "a request under load was refused")
        self.assertGreater(ledger.answers, 50, "too little load to count")
        self.assertEqual(integrity(self.tokend.db), "ok")

        self.tokend.start()
        lost = 0
        for client, token in ledger.held:
            first = self.refresh(client, token)
            if first.status != 200:
                lost += 1
                continue
            second = self.refresh(client, token)
            self.assert_oauth_error(second, 400, "invalid_grant")
        print(f"round {round_number}: {ledger.answers} tokens issued or "
              f"refreshed under load, {len(ledger.held)} unused refresh "
              f"tokens checked after SIGKILL and restart, "
              f"{ledger.in_flight} in flight, {lost} lost", file=sys.stderr)
        self.assertEqual(lost, 0, "refresh tokens lost in the crash")

    def test_sigkill_under_load_loses_no_refresh_token(self):
        self.tokend = self.start_tokend("--auth-failure-limit", "0")
        self.clients = [self.tokend.create_client(f"crash {n}")
                        for n in range(CLIENTS)]
        for round_number in range(1, ROUNDS + 1):
            self.check_round(round_number)

        self.tokend.stop()
        self.assertEqual(integrity(self.tokend.db), "ok")


if __name__ == "__main__":
    unittest.main()
