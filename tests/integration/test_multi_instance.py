"""Several tokend instances over one PostgreSQL database (issue 4): three
processes on their own loopback ports share clients, keys, refresh token
families and revocations. A token issued on one is refreshed on another;
reuse on the third kills the family everywhere; a revocation reaches the
others within a second; 50 concurrent refreshes of one token over the
three give exactly one success; SIGKILL of an instance under load loses no
token; key rotation reaches every instance; and with the database stopped
the gateway check and whoami keep working while refreshes get 503.

The database: a fresh one on the cluster of TOKEND_TEST_POSTGRES (the CTest
fixture), else on a cluster this test starts. The outage test always
starts its own cluster, since it stops it."""

import concurrent.futures
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.environ.get("TOKEND_SOURCE", "."),
                                "tests/support"))

from tokend_harness import (POSTGRES, SOURCE, Tokend,  # noqa: E402
                            TokendTestCase, jwt_parts,
                            postgres_database_create, remove_test_folder,
                            wait_until)

# Every instance signs and checks tokens for one issuer, the address a
# load balancer in front of them would have.
ISSUER = "http://tokend.multi-instance.test"
WITHIN = 1.0
INSTANCE_ARGS = ("--issuer", ISSUER, "--auth-failure-limit", "0")


def cluster_start(test_class):
    """A private cluster in a temporary folder, stopped and removed when
    test_class ends; returns (folder, base URL)."""
    folder = tempfile.mkdtemp(prefix="tokend-pg-")
    test_class.addClassCleanup(subprocess.run, [
        os.path.join(SOURCE, "scripts/postgres-stop"), "--remove", folder],
        check=False, timeout=120)
    url = subprocess.run([os.path.join(SOURCE, "scripts/postgres-start"),
                          folder], check=True, capture_output=True,
                         text=True, timeout=120).stdout.strip()
    return folder, url


def cluster_restart(folder):
    subprocess.run([os.path.join(SOURCE, "scripts/postgres-start"), folder],
                   check=True, capture_output=True, timeout=120)


def cluster_stop(folder):
    subprocess.run([os.path.join(SOURCE, "scripts/postgres-stop"), folder],
                   check=True, capture_output=True, timeout=120)


class InstancesTestCase(TokendTestCase):
    """Instances of one database, started together so that they also race
    to migrate it and to create its first signing key."""

    @classmethod
    def database_create(cls):
        """A fresh database on the fixture's cluster, else on our own."""
        if POSTGRES:
            return postgres_database_create()
        _, url = cluster_start(cls)
        return postgres_database_create(url)

    @classmethod
    def instances_start(cls, database, count):
        instances = [Tokend(*INSTANCE_ARGS, db=database) for _ in range(count)]
        for tokend in instances:
            cls.addClassCleanup(remove_test_folder, tokend.folder)
            cls.addClassCleanup(tokend.stop)
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda tokend: tokend.start(), instances))
        return instances

    def create_client(self, name, **options):
        """A client made with tokenctl, once every instance serves it."""
        client = self.instances[0].create_client(name, **options)
        for tokend in self.instances[1:]:
            tokend.wait_for_client(client)
        return client

    def assert_status(self, answer, status):
        self.assertEqual(answer.status, status, answer)
        return answer


class MultiInstanceTest(InstancesTestCase):

    @classmethod
    def setUpClass(cls):
        cls.instances = cls.instances_start(cls.database_create(), 3)

    def test_every_instance_publishes_the_same_keys(self):
        jwks = [tokend.jwks() for tokend in self.instances]
        self.assertTrue(jwks[0]["keys"])
        self.assertEqual(jwks[0], jwks[1])
        self.assertEqual(jwks[0], jwks[2])
        for tokend in self.instances:
            metadata = tokend.request(
                "GET", "/.well-known/oauth-authorization-server").json()
            self.assertEqual(metadata["issuer"], ISSUER)

    def test_refresh_elsewhere_and_reuse_on_the_third(self):
        first, second, third = self.instances
        client = self.create_client("roaming")

        issued = first.issue(client)
        self.assertEqual(third.check(issued["access_token"]).status, 200)
        refreshed = self.assert_status(
            second.refresh(client, issued["refresh_token"]), 200).json()
        self.assertEqual(first.check(refreshed["access_token"]).status, 200)

        # The old token again, on the third instance: reuse, and the
        # family dies on every instance, the newest token included.
        self.assert_oauth_error(
            third.refresh(client, issued["refresh_token"]), 400,
            "invalid_grant")
        for tokend in self.instances:
            self.assert_oauth_error(
                tokend.refresh(client, refreshed["refresh_token"]), 400,
                "invalid_grant")

    def test_revocation_reaches_the_others_within_a_second(self):
        first = self.instances[0]
        client = self.create_client("revoker")
        access_token = first.issue(client)["access_token"]
        for tokend in self.instances:
            self.assertEqual(tokend.check(access_token).status, 200)

        started = time.monotonic()
        self.assert_status(first.revoke(client, access_token), 200)
        for index, tokend in enumerate(self.instances):
            refused, _ = wait_until(
                lambda: tokend.check(access_token).status == 401, timeout=3,
                interval=0.005)
            elapsed = time.monotonic() - started
            self.assertTrue(refused, f"instance {index} still accepts it")
            self.assertLess(elapsed, WITHIN)
            print(f"revocation refused by instance {index} after "
                  f"{elapsed * 1000:.0f} ms", file=sys.stderr)

    def test_client_disabled_with_tokenctl_everywhere(self):
        client = self.create_client("short-lived")
        access_token = self.instances[1].issue(client)["access_token"]
        started = time.monotonic()
        self.instances[2].tokenctl("client", "disable", client["client_id"])
        for tokend in self.instances:
            refused, _ = wait_until(
                lambda: tokend.check(access_token).status == 401, timeout=3)
            self.assertTrue(refused)
            self.assertLess(time.monotonic() - started, WITHIN + 0.5)
            self.assert_invalid_client(tokend.token(client))

    def test_concurrent_refreshes_over_three_instances(self):
        client = self.create_client("racer")
        for round_number in range(3):
            refresh_token = self.instances[0].issue(client)["refresh_token"]
            start = threading.Barrier(50)

            def refresh(index):
                start.wait(timeout=10)
                tokend = self.instances[index % 3]
                return tokend.refresh(client, refresh_token).status

            with concurrent.futures.ThreadPoolExecutor(50) as pool:
                statuses = list(pool.map(refresh, range(50)))
            self.assertEqual(statuses.count(200), 1, statuses)
            self.assertEqual(statuses.count(400), 49, statuses)

    def test_key_rotation_reaches_every_instance(self):
        client = self.create_client("signer")
        old_kids = {key["kid"] for key in self.instances[0].jwks()["keys"]}
        old_signer = jwt_parts(
            self.instances[0].issue(client)["access_token"])[0]["kid"]
        self.assertIn(old_signer, old_kids)

        started = time.monotonic()
        self.instances[1].tokenctl("keys", "rotate")

        def rotated(tokend):
            kids = {key["kid"] for key in tokend.jwks()["keys"]}
            signer = jwt_parts(tokend.issue(client)["access_token"])[0]["kid"]
            return old_signer in kids and signer in kids and \
                signer != old_signer and signer

        signers = set()
        for index, tokend in enumerate(self.instances):
            signer, _ = wait_until(lambda: rotated(tokend), timeout=3,
                                   interval=0.02)
            self.assertTrue(signer, f"instance {index} did not rotate")
            signers.add(signer)
        elapsed = time.monotonic() - started
        print(f"key rotation served by every instance after "
              f"{elapsed * 1000:.0f} ms", file=sys.stderr)
        self.assertLess(elapsed, WITHIN + 0.5)
        self.assertEqual(len(signers), 1)

        # A token signed with the old key still passes everywhere.
        for tokend in self.instances:
            self.assertEqual(len(tokend.jwks()["keys"]), len(old_kids) + 1)


class Chain:
    """One client's refresh token chain, and what it has seen."""

    def __init__(self, client, refresh_token):
        self.client = client
        self.refresh_token = refresh_token  # the last one got with a 200
        self.presented_unanswered = False  # sent, and no answer came
        self.refreshes = 0
        self.refused = None  # an answer other than 200, if one came


class InstanceKilledTest(InstancesTestCase):
    """SIGKILL of one instance in the middle of a load: its database
    connections die with it, possibly in the middle of a rotation, and no
    refresh token that any client received with a 200 is lost."""

    @classmethod
    def setUpClass(cls):
        cls.instances = cls.instances_start(cls.database_create(), 3)

    @staticmethod
    def run_chain(chain, targets, stop):
        """Refreshes chain's token over targets until stop is set."""
        turn = 0
        while not stop.is_set() and chain.refreshes < 2000:
            tokend = targets[turn % len(targets)]
            turn += 1
            try:
                answer = tokend.refresh(chain.client, chain.refresh_token)
            except OSError:
                # The instance died with the request: its rotation may
                # have committed, so this token counts as presented.
                chain.presented_unanswered = True
                return
            if answer.status != 200:
                chain.refused = answer
                return
            chain.refresh_token = answer.json()["refresh_token"]
            chain.refreshes += 1

    def test_sigkill_loses_no_token(self):
        survivors, victim = self.instances[:2], self.instances[2]
        client = self.create_client("under load")
        chains = [Chain(client, survivors[0].issue(client)["refresh_token"])
                  for _ in range(12)]
        stop = threading.Event()
        threads = []
        for index, chain in enumerate(chains):
            # Two thirds of the chains load the survivors; the rest load
            # the victim, so it dies with rotations in flight.
            targets = survivors if index % 3 else [victim]
            thread = threading.Thread(target=self.run_chain,
                                      args=(chain, targets, stop))
            thread.start()
            threads.append(thread)
        try:
            time.sleep(1.0)
            victim.stop(signal.SIGKILL)
            time.sleep(1.0)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)

        checked = 0
        for chain in chains:
            self.assertIsNone(chain.refused)
            self.assertGreater(chain.refreshes, 0)
            if chain.presented_unanswered:
                continue
            # Exactly once: the newest token works, then it is spent.
            answer = survivors[checked % 2].refresh(client,
                                                    chain.refresh_token)
            self.assert_status(answer, 200)
            self.assert_oauth_error(
                survivors[(checked + 1) % 2].refresh(client,
                                                     chain.refresh_token),
                400, "invalid_grant")
            checked += 1
        self.assertGreaterEqual(checked, 8)
        print(f"after SIGKILL: {checked} chains checked, "
              f"{sum(c.refreshes for c in chains)} refreshes under load",
              file=sys.stderr)


class DatabaseOutageTest(InstancesTestCase):
    """The database stops: what needs only the signing key and the
    in-memory view keeps working, refreshes get 503 with Retry-After, and
    everything works again once the database is back."""

    @classmethod
    def setUpClass(cls):
        cls.cluster, url = cluster_start(cls)
        cls.instances = cls.instances_start(postgres_database_create(url), 1)

    def test_serving_through_an_outage(self):
        tokend = self.instances[0]
        client = self.create_client("steady")
        issued = tokend.issue(client)

        cluster_stop(self.cluster)
        try:
            for _ in range(3):
                self.assertEqual(tokend.check(issued["access_token"]).status,
                                 200)
                whoami = tokend.bearer("GET", "/v2/whoami",
                                       issued["access_token"])
                self.assertEqual(whoami.status, 200, whoami)
                self.assertEqual(whoami.json()["client_id"],
                                 client["client_id"])
            # What must reach the store waits for it: 503, retry later.
            for answer in (tokend.refresh(client, issued["refresh_token"]),
                           tokend.revoke(client, issued["access_token"])):
                self.assert_oauth_error(answer, 503,
                                        "temporarily_unavailable")
                self.assertTrue(answer.header("Retry-After"), answer.headers)
            # Issuing writes nothing, so it may go on; it must not fail.
            self.assertIn(tokend.token(client).status, (200, 503))
        finally:
            cluster_restart(self.cluster)

        # Back within a few polls, and the refused refresh did not spend
        # the token.
        started = time.monotonic()
        answer = tokend.refresh(client, issued["refresh_token"])
        while answer.status == 503 and time.monotonic() - started < 10:
            time.sleep(0.05)
            answer = tokend.refresh(client, issued["refresh_token"])
        self.assert_status(answer, 200)
        print(f"refreshes served again {(time.monotonic() - started) * 1000:.0f}"
              f" ms after the database restarted", file=sys.stderr)
        self.assert_status(
            tokend.refresh(client, answer.json()["refresh_token"]), 200)

        # Writes and the view's polling work again.
        self.assert_status(tokend.revoke(client, issued["access_token"]), 200)
        refused, _ = wait_until(
            lambda: tokend.check(issued["access_token"]).status == 401)
        self.assertTrue(refused)
        newcomer = self.create_client("after the outage")
        self.assertEqual(tokend.token(newcomer).status, 200)


if __name__ == "__main__":
    unittest.main()
