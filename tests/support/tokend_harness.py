"""Starts the real build/tokend on an ephemeral loopback port with a fresh
store, runs the real tokenctl against the same store, and speaks raw HTTP
with the standard library. Every integration and client test uses it."""

import atexit
import base64
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

TOKEND = os.environ.get("TOKEND_BIN", "build/tokend")
TOKENCTL = os.environ.get("TOKENCTL_BIN", "build/tokenctl")
SOURCE = os.environ.get("TOKEND_SOURCE", os.getcwd())

# With TOKEND_TEST_POSTGRES set to a cluster's URL (the CTest fixture
# "postgres" sets it for the postgres/ pass), every Tokend gets a fresh
# database of that cluster instead of an SQLite file, and tokend and
# tokenctl get the fixed master key that a PostgreSQL store requires.
POSTGRES = os.environ.get("TOKEND_TEST_POSTGRES") or None
TEST_MASTER_KEY = \
    "d22ed868877bd7ab0300460c6d35f58f371b3a19306232ff814c886f46940c8d"


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

    def __init__(self, *args, db=None, env=None, folder=None,
                 log_name="tokend.log", prefix=None):
        """prefix: words put before the tokend command, a valgrind run
        for example."""
        self.prefix = list(prefix or [])
        self.folder = folder or tempfile.mkdtemp(prefix="tokend-test-")
        if db is None and POSTGRES:
            db = postgres_database_create()
        self.db = db or os.path.join(self.folder, "tokend.db")
        self.args = list(args)
        self.env = dict(os.environ)
        self.env.pop("TOKEND_MASTER_KEY", None)
        if self.is_postgres:
            self.env["TOKEND_MASTER_KEY"] = TEST_MASTER_KEY
        if env:
            self.env.update(env)
        self.process = None
        self.port = None
        self.log_path = os.path.join(self.folder, log_name)

    def start(self, timeout=10):
        has_listen = any(a.startswith("--listen") for a in self.args)
        listen = [] if has_listen else ["--listen", "127.0.0.1:0"]
        command = self.prefix + [TOKEND, "--db", self.db] + listen + \
            self.args
        self.log_file = open(self.log_path, "ab")
        # A restart appends to the same log: look past the earlier runs.
        earlier = len(self.log_text())
        self.process = subprocess.Popen(command, stdout=self.log_file,
                                        stderr=self.log_file, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(r'msg="tokend started".* port=(\d+)',
                              self.log_text()[earlier:])
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
    def is_postgres(self):
        return is_postgres_url(self.db)

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

    def request(self, method, path, body=None, headers=None, timeout=10,
                encode_chunked=False):
        connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {},
                               encode_chunked=encode_chunked)
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

    def issue(self, client, **fields):
        """A client_credentials answer as a dict; raises unless 200."""
        answer = self.token(client, **fields)
        if answer.status != 200:
            raise RuntimeError(f"token request failed: {answer!r}")
        return answer.json()

    def refresh(self, client, refresh_token, basic=False, **fields):
        """The platform's documented refresh call: every field, the client's
        credentials included, in the form body (unless basic=True)."""
        fields["grant_type"] = "refresh_token"
        fields["refresh_token"] = refresh_token
        return self.token(client, basic=basic, **fields)

    def revoke(self, client, token, **fields):
        fields["token"] = token
        return self.post_form("/v2/auth/revoke", fields,
                              self.basic_auth(client))

    def introspect(self, client, token, **fields):
        fields["token"] = token
        return self.post_form("/v2/auth/introspect", fields,
                              self.basic_auth(client))

    def check(self, access_token, scope=None):
        path = "/v2/auth/check"
        if scope is not None:
            path += "?" + urllib.parse.urlencode({"scope": scope})
        return self.bearer("GET", path, access_token)

    def jwks(self):
        return self.request("GET", "/.well-known/jwks.json").json()

    @staticmethod
    def basic_auth(client):
        """The Authorization header of client, as a headers dict."""
        if client is None:
            return {}
        return {"Authorization": basic_header(client["client_id"],
                                              client["client_secret"])}

    # --- the log and the store ---------------------------------------------

    def log_records(self):
        """Every logfmt line of the log, each as a dict of its fields."""
        return [parse_logfmt(line) for line in self.log_text().splitlines()
                if line.startswith("time=")]

    def log_records_where(self, **fields):
        return [record for record in self.log_records()
                if all(record.get(key) == value
                       for key, value in fields.items())]

    def request_log_lines(self, request_id):
        """The access log lines of one request: those with its ID and a
        status (other lines with the ID are events within the request)."""
        return [record for record in self.log_records()
                if record.get("request_id") == request_id and
                "status" in record]

    @property
    def configured_issuer(self):
        """The issuer tokend says it uses, from its start line."""
        record = self.log_records_where(msg="tokend started")[-1]
        return record["issuer"]

    def row_count(self, table, where="1"):
        """Rows of a store table, in either store. SQLite: through a
        read-only connection (the store is in WAL mode, so this never
        blocks tokend's writers). PostgreSQL: through psql."""
        if self.is_postgres:
            condition = "true" if where == "1" else where
            return int(psql(self.db,
                            f"SELECT count(*) FROM {table} WHERE {condition}"))
        connection = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True,
                                     timeout=5)
        try:
            return connection.execute(
                f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]
        finally:
            connection.close()


# --- PostgreSQL -------------------------------------------------------------

def is_postgres_url(url):
    return url.startswith(("postgres://", "postgresql://"))


def postgres_url(base, database):
    """base (a libpq URI) naming database instead of its own."""
    parts = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit(parts._replace(path="/" + database))


def psql(url, sql, timeout=60):
    """Runs one SQL command with psql; returns its unaligned output."""
    result = subprocess.run(
        ["psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
         "-c", sql], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"psql {sql!r} failed: {result.stderr}")
    return result.stdout.strip()


CREATED_DATABASES = []


def postgres_database_create(base=None):
    """A new empty database on the cluster of base (default: the one of
    TOKEND_TEST_POSTGRES); returns its URL. It is dropped when the test
    process exits."""
    base = base or POSTGRES
    name = "tokend_" + secrets.token_hex(6)
    psql(base, f"CREATE DATABASE {name}")
    CREATED_DATABASES.append((base, name))
    return postgres_url(base, name)


@atexit.register
def postgres_databases_drop():
    """Keeps a long run from filling the cluster's disk; a cluster that is
    gone already (a test stopped its own) has nothing left to drop."""
    for base, name in CREATED_DATABASES:
        try:
            psql(base, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
                 timeout=10)
        except (RuntimeError, subprocess.TimeoutExpired):
            pass


def basic_header(user, password):
    """RFC 6749 §2.3.1: form-encode both parts, then base64."""
    pair = urllib.parse.quote_plus(user) + ":" + \
        urllib.parse.quote_plus(password)
    return "Basic " + base64.b64encode(pair.encode()).decode()


def parse_logfmt(line):
    """The key=value fields of one logfmt line; quoted values unescaped."""
    fields = {}
    for match in LOGFMT_FIELD.finditer(line):
        value = match.group(2)
        if value.startswith('"'):
            value = re.sub(r'\\(.)', r'\1', value[1:-1])
        fields[match.group(1)] = value
    return fields


LOGFMT_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def wait_until(predicate, timeout=1.0, interval=0.01):
    """Polls predicate until it returns something true or timeout seconds
    pass. Returns (the last value, seconds waited)."""
    started = time.monotonic()
    while True:
        value = predicate()
        elapsed = time.monotonic() - started
        if value or elapsed >= timeout:
            return value, elapsed
        time.sleep(interval)


def in_parallel(function, threads, timeout=60):
    """Runs function() in that many threads at once, released together by
    a barrier; returns the list of what each call returned."""
    barrier = threading.Barrier(threads, timeout=timeout)
    results = []
    lock = threading.Lock()

    def run():
        barrier.wait()
        result = function()
        with lock:
            results.append(result)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=timeout)
    return results


def free_port():
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def jwt_parts(token):
    """The decoded header and claims of a JWT, without verification."""
    def decode(part):
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    header, claims, _ = token.split(".")
    return decode(header), decode(claims)


def remove_test_folder(folder):
    """Deletes a test's store and log, unless TOKEND_KEEP_TEST_FILES is set
    (to read the log of a failed run)."""
    if not os.environ.get("TOKEND_KEEP_TEST_FILES"):
        shutil.rmtree(folder, ignore_errors=True)


class TokendTestCase(unittest.TestCase):
    """Assertions the integration tests share, and tokend processes that
    stop when the test (or the class) ends."""

    def start_tokend(self, *args, **options):
        tokend = Tokend(*args, **options)
        if "folder" not in options:
            self.addCleanup(remove_test_folder, tokend.folder)
        self.addCleanup(tokend.stop)
        return tokend.start()

    @classmethod
    def start_class_tokend(cls, *args, **options):
        tokend = Tokend(*args, **options)
        if "folder" not in options:
            cls.addClassCleanup(remove_test_folder, tokend.folder)
        cls.addClassCleanup(tokend.stop)
        return tokend.start()

    def assert_no_store(self, response):
        self.assertEqual(response.header("Cache-Control"), "no-store",
                         response)
        self.assertEqual(response.header("Pragma"), "no-cache", response)

    def assert_oauth_error(self, response, status, error):
        """The RFC 6749 §5.2 body and the platform's envelope together."""
        self.assertEqual(response.status, status, response)
        body = response.json()
        self.assertEqual(body["error"], error, body)
        self.assertIsInstance(body.get("error_description"), str, body)
        self.assertEqual(body["code"], error, body)
        self.assertIsInstance(body.get("message"), str, body)
        self.assertTrue(response.header("X-Request-Id"), response.headers)
        self.assertEqual(body["requestId"], response.header("X-Request-Id"))
        self.assert_no_store(response)
        return body

    def assert_invalid_client(self, response):
        body = self.assert_oauth_error(response, 401, "invalid_client")
        self.assertRegex(response.header("WWW-Authenticate") or "",
                         r'^Basic realm="[^"]+"')
        return body

    def assert_bearer_refused(self, response, error="invalid_token"):
        """401 with an RFC 6750 §3 challenge; error=None for a request
        that carried no token at all (§3.1: then no error code)."""
        self.assertEqual(response.status, 401, response)
        challenge = response.header("WWW-Authenticate") or ""
        self.assertRegex(challenge, r'^Bearer realm="[^"]+"')
        if error is None:
            self.assertNotIn("error=", challenge)
        else:
            self.assertIn(f'error="{error}"', challenge)
        return challenge

    def assert_not_logged(self, tokend, secrets):
        """None of the secrets or tokens appears anywhere in the log."""
        log = tokend.log_text()
        for secret in secrets:
            self.assertTrue(secret)
            self.assertNotIn(secret, log)
            # A token's signature alone must not leak either.
            if secret.count(".") == 2:
                self.assertNotIn(secret.rsplit(".", 1)[1], log)
