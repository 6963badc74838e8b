"""examples/nginx/nginx.conf in a real nginx, between a client and a tiny
upstream API, with the real tokend behind auth_request (issue 3, "Real
parts"). nginx comes from Debian's package (make test-deps installs it);
a missing nginx fails this test, it does not skip it."""

import grp
import http.client
import http.server
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.environ.get("TOKEND_SOURCE", "."),
                                "tests/support"))

from tokend_harness import (SOURCE, TokendTestCase, free_port,  # noqa: E402
                            jwt_parts, wait_until)

NGINX = "/usr/sbin/nginx"
EXAMPLE = os.path.join(SOURCE, "examples/nginx/nginx.conf")
TTL = 10

MAIN_CONFIG = """\
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
{user}
events {{
    worker_connections 64;
}}

http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/api.conf;
}}
"""


class EchoHandler(http.server.BaseHTTPRequestHandler):
    """The upstream API: answers every request with the headers it got."""

    protocol_version = "HTTP/1.1"

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        seen = {"method": self.command, "path": self.path, "body": body,
                "headers": dict(self.headers.items())}
        self.server.seen.append(seen)
        data = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = answer

    def log_message(self, *args):
        pass


def render_example(tokend_port, upstream_port, nginx_port):
    """The example with its three addresses replaced; each must be there
    exactly once, so that a change to the example cannot go unnoticed."""
    with open(EXAMPLE) as example:
        text = example.read()
    for old, new in [("server 127.0.0.1:8080;",
                      f"server 127.0.0.1:{tokend_port};"),
                     ("server 127.0.0.1:9000;",
                      f"server 127.0.0.1:{upstream_port};"),
                     ("listen 127.0.0.1:8000;",
                      f"listen 127.0.0.1:{nginx_port};")]:
        if text.count(old) != 1:
            raise AssertionError(f"{EXAMPLE} should contain {old!r} once")
        text = text.replace(old, new)
    return text


def user_directive():
    """As root, nginx's workers would switch to nobody: keep the current
    user, which owns the temporary folder."""
    if os.geteuid() != 0:
        return ""
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return f"user {user} {group};"


class NginxTest(TokendTestCase):

    @classmethod
    def setUpClass(cls):
        if not os.access(NGINX, os.X_OK):
            raise AssertionError(
                f"{NGINX} is missing: run `make test-deps` (Debian's nginx)")
        cls.tokend = cls.start_class_tokend("--access-token-ttl", str(TTL))
        cls.client = cls.tokend.create_client(
            "api caller", scope="read write", subject="member-9")
        cls.reader = cls.tokend.create_client("reader", scope="read")
        cls.start_upstream()
        cls.start_nginx()

    @classmethod
    def start_upstream(cls):
        cls.upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                       EchoHandler)
        cls.upstream.seen = []
        thread = threading.Thread(target=cls.upstream.serve_forever,
                                  kwargs={"poll_interval": 0.1})
        thread.start()
        cls.addClassCleanup(thread.join, 10)
        cls.addClassCleanup(cls.upstream.server_close)
        cls.addClassCleanup(cls.upstream.shutdown)

    @classmethod
    def start_nginx(cls):
        cls.folder = tempfile.mkdtemp(prefix="tokend-nginx-")
        cls.addClassCleanup(shutil.rmtree, cls.folder, True)
        cls.port = free_port()
        with open(os.path.join(cls.folder, "api.conf"), "w") as api:
            api.write(render_example(cls.tokend.port,
                                     cls.upstream.server_address[1],
                                     cls.port))
        config = os.path.join(cls.folder, "nginx.conf")
        with open(config, "w") as main:
            main.write(MAIN_CONFIG.format(folder=cls.folder,
                                          user=user_directive()))

        command = [NGINX, "-p", cls.folder, "-c", config,
                   "-e", os.path.join(cls.folder, "error.log")]
        checked = subprocess.run(command + ["-t"], capture_output=True,
                                 text=True, timeout=30)
        if checked.returncode != 0:
            raise AssertionError("nginx refuses the example:\n" +
                                 checked.stderr)

        cls.nginx = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        cls.addClassCleanup(cls.stop_nginx)
        ready, _ = wait_until(cls.nginx_answers, timeout=10, interval=0.05)
        if not ready:
            raise AssertionError("nginx did not start:\n" + cls.error_log())

    @classmethod
    def stop_nginx(cls):
        if cls.nginx.poll() is None:
            cls.nginx.terminate()
        try:
            cls.nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            cls.nginx.kill()
            cls.nginx.wait()

    @classmethod
    def nginx_answers(cls):
        if cls.nginx.poll() is not None:
            raise AssertionError("nginx exited:\n" + cls.error_log())
        try:
            cls.through_nginx("GET", "/ready")
            return True
        except OSError:
            return False

    @classmethod
    def error_log(cls):
        path = os.path.join(cls.folder, "error.log")
        if not os.path.exists(path):
            return ""
        with open(path, errors="replace") as log:
            return log.read()

    @classmethod
    def through_nginx(cls, method, path, token=None, body=None,
                      headers=None):
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = "Bearer " + token
        connection = http.client.HTTPConnection("127.0.0.1", cls.port,
                                                timeout=10)
        try:
            connection.request(method, path, body=body, headers=all_headers)
            answer = connection.getresponse()
            return answer.status, answer.getheaders(), answer.read()
        finally:
            connection.close()

    def get(self, token=None, method="GET", path="/orders/7", **options):
        status, header_list, body = self.through_nginx(method, path, token,
                                                       **options)
        headers = {name.lower(): value for name, value in header_list}
        challenges = [value for name, value in header_list
                      if name.lower() == "www-authenticate"]
        self.assertLessEqual(len(challenges), 1, header_list)
        if status in (401, 403):
            self.assertEqual(len(challenges), 1, header_list)
        return status, headers, body

    def test_no_token(self):
        seen_before = len(self.upstream.seen)
        status, headers, _ = self.get()
        self.assertEqual(status, 401)
        direct = self.tokend.request("GET", "/v2/auth/check")
        self.assertEqual(headers.get("www-authenticate"),
                         direct.header("WWW-Authenticate"))
        self.assertEqual(headers["www-authenticate"], 'Bearer realm="tokend"')
        self.assertEqual(len(self.upstream.seen), seen_before,
                         "the upstream was reached without a token")

    def test_valid_token_reaches_the_upstream(self):
        token = self.tokend.issue(self.client)["access_token"]
        status, _, body = self.get(
            token, headers={"X-Auth-Client-Id": "spoofed",
                            "X-Auth-Scope": "admin"})
        self.assertEqual(status, 200, body)
        seen = json.loads(body)
        self.assertEqual(seen["path"], "/orders/7")
        headers = {name.lower(): value
                   for name, value in seen["headers"].items()}
        self.assertEqual(headers["x-auth-client-id"],
                         self.client["client_id"])
        self.assertEqual(headers["x-auth-subject"], "member-9")
        self.assertEqual(sorted(headers["x-auth-scope"].split()),
                         ["read", "write"])
        # tokend's check was asked, with the token and without a body.
        checks = self.tokend.log_records_where(
            path="/v2/auth/check", method="GET",
            client_id=self.client["client_id"], status="200")
        self.assertTrue(checks)

    def assert_refused(self, token):
        status, headers, _ = self.get(token)
        self.assertEqual(status, 401)
        self.assertIn('error="invalid_token"',
                      headers.get("www-authenticate", ""))

    def test_bad_token(self):
        self.assert_refused("not.a.token")

    def test_revoked_token(self):
        token = self.tokend.issue(self.client)["access_token"]
        self.assertEqual(self.get(token)[0], 200)
        revoked = self.tokend.revoke(self.client, token)
        self.assertEqual(revoked.status, 200)
        refused, elapsed = wait_until(lambda: self.get(token)[0] == 401,
                                      timeout=3)
        self.assertTrue(refused, "nginx still lets the revoked token in")
        self.assertLess(elapsed, 1.0)
        self.assert_refused(token)

    def test_expired_token(self):
        token = self.tokend.issue(self.client)["access_token"]
        self.assertEqual(self.get(token)[0], 200)
        exp = jwt_parts(token)[1]["exp"]
        time.sleep(max(0, exp + 0.2 - time.time()))
        self.assert_refused(token)

    def test_writing_needs_the_write_scope(self):
        reader = self.tokend.issue(self.reader)["access_token"]
        self.assertEqual(self.get(reader)[0], 200)
        status, headers, _ = self.get(reader, method="POST", body="{}")
        self.assertEqual(status, 403)
        self.assertIn('error="insufficient_scope"',
                      headers.get("www-authenticate", ""))

        writer = self.tokend.issue(self.client)["access_token"]
        status, _, body = self.get(writer, method="POST", body='{"a":1}')
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["body"], '{"a":1}')


if __name__ == "__main__":
    unittest.main()
