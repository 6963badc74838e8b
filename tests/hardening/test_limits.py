"""Limits (issue 6): an over-long request line, too many or too large
headers, a body over --max-body-size, more connections than
--max-connections, and slow clients that trickle header bytes (slowloris).
Each is refused with the right status (or queued, or cut), leaves a log
line, and never crashes tokend or slows down a normal client."""

import http.client
import os
import select
import socket
import sqlite3
import sys
import threading
import time
import unittest
import urllib.parse

os.environ.pop("TOKEND_TEST_POSTGRES", None)  # an SQLite store, always
sys.path.insert(0, os.path.join(os.environ.get("TOKEND_SOURCE", "."),
                                "tests/support"))

from tokend_harness import TokendTestCase, wait_until  # noqa: E402

FORM = b"Content-Type: application/x-www-form-urlencoded\r\n"


def exchange(port, request, timeout=5):
    """Sends raw bytes, half-closes, and reads until tokend closes.
    Returns (status or None, the answer's bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) \
            as connection:
        try:
            connection.sendall(request)
            connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # tokend may refuse before it read everything
        answer = b""
        try:
            while True:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    status = None
    if answer.startswith(b"HTTP/1.1 "):
        status = int(answer[9:12])
    return status, answer


def token_rate(tokend, client, seconds, statuses):
    """Tokens per second one keep-alive client gets for that long."""
    connection = http.client.HTTPConnection("127.0.0.1", tokend.port,
                                            timeout=10)
    headers = dict(tokend.basic_auth(client))
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    count = 0
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds and count < 100000:
            connection.request("POST", "/v2/auth/token",
                               body="grant_type=client_credentials",
                               headers=headers)
            answer = connection.getresponse()
            answer.read()
            statuses.add(answer.status)
            count += 1
    finally:
        connection.close()
    return count / (time.monotonic() - started)


class LimitsTest(TokendTestCase):

    @classmethod
    def setUpClass(cls):
        cls.tokend = cls.start_class_tokend("--max-body-size", "8192")

    def log_lines_since(self, tokend, start):
        return tokend.log_text()[start:]

    def assert_alive(self, tokend):
        self.assertEqual(tokend.request("GET", "/health").status, 200)

    def test_overlong_request_line(self):
        mark = len(self.tokend.log_text())
        status, _ = exchange(self.tokend.port, b"GET /health?" +
                             b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(status, (400, 414))
        logged = self.log_lines_since(self.tokend, mark)
        self.assertRegex(logged, r'msg="http" detail=.*\b41[4]\b|too big')
        self.assert_alive(self.tokend)

    def test_too_many_and_too_large_headers(self):
        many = b"".join(b"X-Header-%d: %s\r\n" % (n, b"v" * 100)
                        for n in range(1000))
        large = b"X-Large: " + b"v" * 40000 + b"\r\n"
        for headers in (many, large):
            mark = len(self.tokend.log_text())
            status, _ = exchange(self.tokend.port, b"GET /health HTTP/1.1"
                                 b"\r\nHost: x\r\n" + headers + b"\r\n")
            self.assertIn(status, (400, 431))
            self.assertIn('msg="http"', self.log_lines_since(self.tokend,
                                                             mark))
        self.assert_alive(self.tokend)

    def test_body_too_large(self):
        # Declared: refused before the body is read.
        mark = len(self.tokend.log_text())
        status, answer = exchange(
            self.tokend.port, b"POST /v2/auth/token HTTP/1.1\r\nHost: x\r\n"
            + FORM + b"Content-Length: 9000\r\n\r\n" + b"a" * 9000)
        self.assertEqual(status, 413, answer[:300])
        self.assertIn(b'"error":"invalid_request"', answer)
        self.assertIn(b"X-Request-Id: ", answer)
        self.assertIn("reason=body_too_large",
                      self.log_lines_since(self.tokend, mark))

        # Chunked, so undeclared: counted as it arrives.
        chunk = b"a" * 1000
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk)
                        for _ in range(10)) + b"0\r\n\r\n"
        status, answer = exchange(
            self.tokend.port, b"POST /v2/auth/token HTTP/1.1\r\nHost: x\r\n"
            + FORM + b"Transfer-Encoding: chunked\r\n\r\n" + body)
        self.assertEqual(status, 413, answer[:300])

        # Far over the limit: the connection is closed, not drained.
        mark = len(self.tokend.log_text())
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk)
                        for _ in range(200))
        exchange(self.tokend.port, b"POST /v2/auth/token HTTP/1.1\r\n"
                 b"Host: x\r\n" + FORM + b"Transfer-Encoding: chunked\r\n\r\n"
                 + body)
        self.assertIn("body far over the limit",
                      self.log_lines_since(self.tokend, mark))
        self.assert_alive(self.tokend)

    def test_connection_limit_queues_the_next_and_recovers(self):
        limit = 4
        tokend = self.start_tokend("--max-connections", str(limit),
                                   "--connection-timeout", "10")
        holders = []
        for _ in range(limit):
            holder = socket.create_connection(("127.0.0.1", tokend.port),
                                              timeout=5)
            holder.sendall(b"GET /health HTTP/1.1\r\n")  # never finished
            holders.append(holder)
            self.addCleanup(holder.close)
        time.sleep(0.3)

        # The one over the limit is not served while the others hold on:
        # it waits in the listen queue (or is refused).
        extra = socket.create_connection(("127.0.0.1", tokend.port),
                                         timeout=1)
        self.addCleanup(extra.close)
        extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
        with self.assertRaises((socket.timeout, ConnectionError)):
            if extra.recv(100) == b"":
                raise ConnectionError("refused")
        self.assertIn("connection limit reached", tokend.log_text())

        # Service resumes as soon as the holders go.
        for holder in holders:
            holder.close()
        extra.settimeout(5)
        try:
            answer = extra.recv(100)
        except ConnectionError:
            answer = b""
        if not answer:  # it was refused: a new connection must work
            self.assert_alive(tokend)
        else:
            self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer)

    def test_a_slow_answer_is_not_cut(self):
        # The deadline covers receiving a request, not answering it: a
        # refresh that waits 5 s for the store's write lock (held here by
        # another process) gets its answer on a 1 s timeout.
        tokend = self.start_tokend("--connection-timeout", "1")
        client = tokend.create_client("patient")
        refresh_token = tokend.issue(client)["refresh_token"]
        locker = sqlite3.connect(tokend.db, timeout=10)
        self.addCleanup(locker.close)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            answer = tokend.request(
                "POST", "/v2/auth/token", timeout=30,
                body=urllib.parse.urlencode({
                    "grant_type": "refresh_token",
                    "refresh_token": refresh_token}),
                headers=dict(tokend.basic_auth(client), **{
                    "Content-Type": "application/x-www-form-urlencoded"}))
        finally:
            locker.rollback()
        self.assertEqual(answer.status, 503, answer)
        self.assertNotIn("request not received in time", tokend.log_text())

    def test_slowloris_is_cut_while_a_normal_client_keeps_its_speed(self):
        timeout = 2
        tokend = self.start_tokend("--connection-timeout", str(timeout),
                                   "--auth-failure-limit", "0")
        client = tokend.create_client("normal")
        statuses = set()
        alone = token_rate(tokend, client, 1.5, statuses)

        cut_after = []
        lock = threading.Lock()

        def trickle():
            # A header that never ends, one byte a second.
            with socket.create_connection(("127.0.0.1", tokend.port),
                                          timeout=1) as connection:
                started = time.monotonic()
                connection.sendall(b"GET /health HTTP/1.1\r\nX-Slow: ")
                for second in range(1, 4 * timeout + 4):
                    readable, _, _ = select.select(
                        [connection], [], [],
                        max(0.0, started + second - time.monotonic()))
                    try:
                        if readable and connection.recv(1) == b"":
                            break
                        connection.sendall(b"a")
                    except OSError:
                        break
                with lock:
                    cut_after.append(time.monotonic() - started)

        trickles = [threading.Thread(target=trickle) for _ in range(4)]
        for thread in trickles:
            thread.start()
        during = token_rate(tokend, client, 2.5, statuses)
        for thread in trickles:
            thread.join(timeout=4 * timeout + 10)

        print(f"normal client alone {alone:.0f}/s, beside four slowloris "
              f"connections {during:.0f}/s; slow connections cut after "
              + ", ".join(f"{seconds:.1f}" for seconds in cut_after)
              + " s", file=sys.stderr)
        self.assertEqual(statuses, {200})
        self.assertGreater(during, 0.5 * alone)
        self.assertEqual(len(cut_after), 4)
        for seconds in cut_after:
            self.assertLess(seconds, timeout + 2.5,
                            "a trickling connection outlived the timeout")
        found, _ = wait_until(lambda: tokend.log_text().count(
            "request not received in time") >= 4, timeout=2)
        self.assertTrue(found, "the cuts were not logged")
        self.assert_alive(tokend)


if __name__ == "__main__":
    unittest.main()
