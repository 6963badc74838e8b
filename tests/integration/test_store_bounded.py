"""Sustained issuance with short lifetimes must leave the store bounded:
the background cleanup deletes expired refresh token families and expired
revocations in small batches, while requests keep being answered (issue
3, "Cleanup"). The store is read through a read-only SQLite connection."""

import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.environ.get("TOKEND_SOURCE", "."),
                                "tests/support"))

from tokend_harness import TokendTestCase  # noqa: E402

TTL = 10
TRAFFIC_SECONDS = 22
MAX_ITERATIONS = 20000  # per worker: the loop is bounded in count too
WORKERS = 2
# A row made at time c expires at c + TTL at the latest and is deleted at
# the next cleanup round after that (every second); what is older than
# this window must be gone.
WINDOW = TTL + 5


class Traffic:
    """Workers that issue, refresh (a family row each) and revoke (a
    revocation row every third time), recording when each row was made."""

    def __init__(self, tokend, client):
        self.tokend = tokend
        self.client = client
        self.lock = threading.Lock()
        self.families = []
        self.revocations = []
        self.failures = []
        self.slowest = 0.0
        self.stop_at = time.monotonic() + TRAFFIC_SECONDS

    def timed(self, call, *args, **fields):
        started = time.monotonic()
        answer = call(*args, **fields)
        elapsed = time.monotonic() - started
        with self.lock:
            self.slowest = max(self.slowest, elapsed)
            if answer.status != 200:
                self.failures.append(answer)
        return answer

    def work(self):
        for iteration in range(MAX_ITERATIONS):
            if time.monotonic() >= self.stop_at:
                return
            issued = self.timed(self.tokend.token, self.client)
            if issued.status != 200:
                continue
            refreshed = self.timed(self.tokend.refresh, self.client,
                                   issued.json()["refresh_token"])
            if refreshed.status == 200:
                with self.lock:
                    self.families.append(time.monotonic())
            if iteration % 3 == 0:
                revoked = self.timed(self.tokend.revoke, self.client,
                                     issued.json()["access_token"])
                if revoked.status == 200:
                    with self.lock:
                        self.revocations.append(time.monotonic())

    def made_since(self, kind, since):
        with self.lock:
            return sum(1 for made in getattr(self, kind) if made > since)


class StoreBoundedTest(TokendTestCase):

    def test_store_stays_bounded_under_sustained_issuance(self):
        tokend = self.start_tokend(
            "--access-token-ttl", str(TTL), "--refresh-token-ttl", str(TTL),
            "--cleanup-interval", "1", "--cleanup-batch", "200",
            "--auth-failure-limit", "0")
        client = tokend.create_client("busy", scope="read")
        traffic = Traffic(tokend, client)
        workers = [threading.Thread(target=traffic.work)
                   for _ in range(WORKERS)]
        for worker in workers:
            worker.start()

        samples = []
        try:
            while any(worker.is_alive() for worker in workers) and \
                    time.monotonic() < traffic.stop_at + 5:
                time.sleep(1)
                now = time.monotonic()
                samples.append((now,
                                tokend.row_count("refresh_families"),
                                tokend.row_count("revocations")))
        finally:
            traffic.stop_at = 0
            for worker in workers:
                worker.join(timeout=30)

        self.assertEqual(traffic.failures, [])
        self.assertLess(traffic.slowest, 2.0,
                        "a request waited seconds: cleanup paused them")
        created = {"families": len(traffic.families),
                   "revocations": len(traffic.revocations)}
        self.assertGreater(created["families"], 300, created)
        self.assertGreater(created["revocations"], 100, created)

        # At every sample, nothing older than the window is left.
        for when, families, revocations in samples:
            self.assertLessEqual(
                families, traffic.made_since("families", when - WINDOW),
                (when, samples, created))
            self.assertLessEqual(
                revocations,
                traffic.made_since("revocations", when - WINDOW),
                (when, samples, created))

        # After two lifetimes of traffic the store holds well under half
        # of what was ever made, and all of it once traffic stops.
        _, families, revocations = samples[-1]
        self.assertLess(families, created["families"] * 0.75, samples)
        self.assertLess(revocations, created["revocations"] * 0.75, samples)
        deadline = time.monotonic() + TTL + 4
        while time.monotonic() < deadline:
            left = (tokend.row_count("refresh_families"),
                    tokend.row_count("revocations"))
            if left == (0, 0):
                break
            time.sleep(0.5)
        self.assertEqual(left, (0, 0), "expired rows were never deleted")
        self.assertTrue(tokend.log_records_where(msg="expired rows deleted"))


if __name__ == "__main__":
    unittest.main()
