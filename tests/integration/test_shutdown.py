"""Start-up and shutdown of the real tokend: it starts in well under a
second, and SIGTERM or SIGINT stop it with exit code 0 within a few
seconds, even with an idle keep-alive connection open, after finishing a
request already in flight (issue 2, "Programs and their interface")."""

import http.client
import os
import signal
import socket
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.environ.get("TOKEND_SOURCE", "."),
                                "tests/support"))

from tokend_harness import (Tokend, TokendTestCase,  # noqa: E402
                            basic_header, remove_test_folder)

STOP_WITHIN = 3.0


class ShutdownTest(TokendTestCase):

    def stop_and_time(self, tokend, sig):
        started = time.monotonic()
        code = tokend.stop(sig, timeout=10)
        return code, time.monotonic() - started

    def test_start_up_is_fast(self):
        tokend = Tokend()
        self.addCleanup(remove_test_folder, tokend.folder)
        self.addCleanup(tokend.stop)
        # The first start creates the store, the master key and a signing
        # key; the second only opens them. Both count.
        for run in ("first", "second"):
            with self.subTest(run=run):
                started = time.monotonic()
                tokend.start()
                elapsed = time.monotonic() - started
                self.assertLess(elapsed, 1.0)
                self.assertEqual(tokend.request("GET", "/health").status,
                                 200)
                self.assertEqual(tokend.stop(), 0)

    def idle_keep_alive_connection(self, tokend):
        connection = http.client.HTTPConnection("127.0.0.1", tokend.port,
                                                timeout=10)
        self.addCleanup(connection.close)
        connection.request("GET", "/health")
        answer = connection.getresponse()
        answer.read()
        self.assertEqual(answer.status, 200)
        self.assertNotEqual((answer.getheader("Connection") or "").lower(),
                            "close")
        return connection

    def assert_stops_cleanly(self, sig):
        tokend = self.start_tokend()
        self.idle_keep_alive_connection(tokend)
        code, elapsed = self.stop_and_time(tokend, sig)
        self.assertEqual(code, 0)
        self.assertLess(elapsed, STOP_WITHIN)
        self.assertTrue(tokend.log_records_where(msg="tokend stopped"))

    def test_sigterm_with_idle_keep_alive_connection(self):
        self.assert_stops_cleanly(signal.SIGTERM)

    def test_sigint_with_idle_keep_alive_connection(self):
        self.assert_stops_cleanly(signal.SIGINT)

    def test_request_in_flight_completes(self):
        tokend = self.start_tokend()
        client = tokend.create_client("patient")
        body = urllib.parse.urlencode(
            {"grant_type": "client_credentials"}).encode()
        head = (f"POST /v2/auth/token HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{tokend.port}\r\n"
                f"Authorization: "
                f"{basic_header(client['client_id'], client['client_secret'])}"
                f"\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")

        with socket.create_connection(("127.0.0.1", tokend.port),
                                      timeout=10) as connection:
            # Headers and half the body: the request is inside tokend.
            connection.sendall(head.encode() + body[:10])
            time.sleep(0.3)
            stop_sent = time.monotonic()
            tokend.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            self.assertIsNone(tokend.process.poll(),
                              "tokend quit with a request in flight")
            connection.sendall(body[10:])
            answer = b""
            while True:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                answer += chunk

        status_line = answer.split(b"\r\n", 1)[0]
        self.assertIn(b" 200 ", status_line, answer[:300])
        self.assertIn(b'"access_token"', answer)
        code = tokend.process.wait(timeout=10)
        self.assertEqual(code, 0)
        self.assertLess(time.monotonic() - stop_sent, STOP_WITHIN + 1)


if __name__ == "__main__":
    unittest.main()
