"""Starts the real build/tokend on an ephemeral loopback port with a fresh
store, runs the real tokenctl against the same store, and speaks raw HTTP
with the standard library. Every integration and client test uses it."""

import base64
import http.client
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.parse

TOKEND = os.environ.get("TOKEND_BIN", "build/tokend")
TOKENCTL = os.environ.get("TOKENCTL_BIN", "build/tokenctl")
SOURCE = os.environ.get("TOKEND_SOURCE", os.getcwd())


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.body[:200]!r}>"


class Tokend:
    """One tokend process and its store in a temporary folder."""

    def __init__(self, *args, db=None, env=None, folder=None):
        self.folder = folder or tempfile.mkdtemp(prefix="tokend-test-")
        self.db = db or os.path.join(self.folder, "tokend.db")
        self.args = list(args)
        self.env = dict(os.environ)
        self.env.pop("TOKEND_MASTER_KEY", None)
        if env:
            self.env.update(env)
        self.process = None
        self.port = None
        self.log_path = os.path.join(self.folder, "tokend.log")

    def start(self, timeout=10):
        has_listen = any(a.startswith("--listen") for a in self.args)
        listen = [] if has_listen else ["--listen", "127.0.0.1:0"]
        command = [TOKEND, "--db", self.db] + listen + self.args
        self.log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(command, stdout=self.log_file,
                                        stderr=self.log_file, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(r'msg="tokend started".* port=(\d+)',
                              self.log_text())
            if match:
                self.port = int(match.group(1))
                return self
            if self.process.poll() is not None:
                raise RuntimeError("tokend exited:\n" + self.log_text())
            time.sleep(0.02)
        raise RuntimeError("tokend did not start:\n" + self.log_text())

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.log_file.close()
        self.process = None
        return code

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log_text(self):
        with open(self.log_path, "rb") as log:
            return log.read().decode("utf-8", "replace")

    @property
    def issuer(self):
        return f"http://127.0.0.1:{self.port}"

    def url(self, path):
        return self.issuer + path

    # --- tokenctl ---------------------------------------------------------

    def tokenctl(self, *args, check=True):
        command = [TOKENCTL, "--db", self.db] + list(args)
        result = subprocess.run(command, capture_output=True, text=True,
                                env=self.env, timeout=30)
        if check and result.returncode != 0:
            raise RuntimeError(f"tokenctl {args} failed: {result.stderr}")
        return result

    def create_client(self, name="test client", scope=None, subject=None,
                      permission=None):
        args = ["client", "create", "--name", name, "--json"]
        if scope is not None:
            args += ["--scope", scope]
        if subject is not None:
            args += ["--subject", subject]
        if permission is not None:
            args += ["--permission", permission]
        client = json.loads(self.tokenctl(*args).stdout)
        self.wait_for_client(client)
        return client

    def wait_for_client(self, client, timeout=3):
        """tokend learns of a new client at its next poll of the store."""
        if self.process is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.token(client).status == 200:
                return
            time.sleep(0.05)
        raise RuntimeError("tokend never saw the new client")

    # --- HTTP -------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, timeout=10):
        connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            answer = connection.getresponse()
            return Response(answer.status, answer.getheaders(), answer.read())
        finally:
            connection.close()

    def post_form(self, path, fields, headers=None):
        body = fields if isinstance(fields, (str, bytes)) else \
            urllib.parse.urlencode(fields)
        all_headers = {"Content-Type": "application/x-www-form-urlencoded"}
        all_headers.update(headers or {})
        return self.request("POST", path, body=body, headers=all_headers)

    def token(self, client, basic=True, **fields):
        fields.setdefault("grant_type", "client_credentials")
        headers = {}
        if basic:
            headers["Authorization"] = basic_header(client["client_id"],
                                                    client["client_secret"])
        else:
            fields["client_id"] = client["client_id"]
            fields["client_secret"] = client["client_secret"]
        return self.post_form("/v2/auth/token", fields, headers)

    def bearer(self, method, path, access_token):
        return self.request(method, path,
                            headers={"Authorization": "Bearer " + access_token})


def basic_header(user, password):
    """RFC 6749 §2.3.1: form-encode both parts, then base64."""
    pair = urllib.parse.quote_plus(user) + ":" + \
        urllib.parse.quote_plus(password)
    return "Basic " + base64.b64encode(pair.encode()).decode()


def jwt_parts(token):
    """The decoded header and claims of a JWT, without verification."""
    def decode(part):
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    header, claims, _ = token.split(".")
    return decode(header), decode(claims)
