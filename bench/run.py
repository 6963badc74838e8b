#!/usr/bin/env python3
"""make bench: tokend and its peers measured one after another, on loopback,
in the same run, and written up as a markdown table and a PNG chart
(bench/README.md says how to read them). With --smoke it runs the same
tooling for about a second a step, tokend and nginx only, and checks that
every step answered as expected; CTest runs that as bench/smoke.

Nothing here talks to any address but 127.0.0.1, and every load loop is
bounded by wrk's duration (and by the count of tokens it was given).
"""

import argparse
import base64
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
LUA = os.path.join(BENCH, "lua")
PEERS = os.path.join(BENCH, "peers")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

CC_BODY = "grant_type=client_credentials&scope=read+write"
CONNECTIONS = 32
WRK_THREADS = 2
CHECK_TOKENS = 1000
INVALID_TOKENS = 50
STEP_ERRORS = (RuntimeError, subprocess.SubprocessError, OSError, KeyError,
               ValueError)


def log(message):
    print(f"bench: {message}", flush=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, process=None, timeout=20.0):
    """Waits until something accepts on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.005)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def basic(user, password):
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def http(method, url, body=None, headers=None):
    """One request; returns (status, headers, body text)."""
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def jwt_header(token):
    part = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# --- processes --------------------------------------------------------------

def process_children(pid):
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(entry))
    return children


def process_tree(pid):
    tree = [pid]
    for child in process_children(pid):
        tree.extend(process_tree(child))
    return tree


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / CLOCK_TICKS


def status_kb(pids, field):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class Server:
    """A server process started for one measurement, and what it cost."""

    def __init__(self, name, command, port, env=None, log_path=None,
                 cwd=None):
        self.name = name
        self.port = port
        self.log_path = log_path or os.devnull
        self.log_file = open(self.log_path, "ab")
        started = time.monotonic()
        self.started = started
        self.process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=self.log_file,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        wait_for_port(port, self.process)
        self.start_seconds = time.monotonic() - started

    def pids(self):
        return process_tree(self.process.pid)

    def cpu(self):
        return cpu_seconds(self.pids())

    def peak_rss_kb(self):
        return status_kb(self.pids(), "VmHWM")

    def rss_kb(self):
        return status_kb(self.pids(), "VmRSS")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()


# --- wrk --------------------------------------------------------------------

def wrk(script, url, script_args, duration, stop_when=None):
    """Runs wrk with one of bench/lua's scripts; returns its BENCH_RESULT.
    stop_when, if given, is polled and ends the run early (SIGINT) once it
    returns true: wrk itself always sleeps its whole duration."""
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}",
               f"-d{max(1, round(duration))}s", "--latency", "--timeout",
               "30s", "-s", os.path.join(LUA, script), url, "--"]
    command += [str(argument) for argument in script_args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    if stop_when is not None:
        while process.poll() is None:
            if stop_when():
                process.send_signal(signal.SIGINT)
                break
            time.sleep(0.05)
    stdout, stderr = process.communicate(timeout=duration + 60)
    for line in stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            result = json.loads(line[len("BENCH_RESULT "):])
            result["command"] = wrk_command_text(command)
            return result
    raise RuntimeError(f"wrk gave no result:\n{stdout}\n{stderr}")


def wrk_command_text(command):
    shown = []
    for argument in command:
        argument = argument.replace(ROOT + "/", "")
        if len(argument) > 60:
            argument = argument[:20] + "..."
        shown.append(argument if re.fullmatch(r"[\w./:=+,-]+", argument)
                     else "'" + argument + "'")
    return " ".join(shown)


def line_count(paths):
    total = 0
    for path in paths:
        try:
            with open(path, "rb") as file:
                total += sum(1 for _ in file)
        except OSError:
            pass
    return total


# --- the benchmark ----------------------------------------------------------

class Bench:
    def __init__(self, options):
        self.options = options
        self.build = os.path.abspath(options.build)
        self.work = os.path.join(self.build, "bench-work")
        self.results = []
        self.notes = []
        self.servers = []
        self.signing = {}
        self.facts = {}
        self.postgres = None
        self.postgres_reason = None
        self.extra_cpu = None
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        self.tokend = os.path.join(self.build, "tokend")
        self.tokenctl = os.path.join(self.build, "tokenctl")
        self.sign = os.path.join(self.build, "bench", "bench_sign")
        self.micro = os.path.join(self.build, "bench", "bench_micro")

    # Each measurement: warm-up, then the timed run with the server's CPU
    # and peak RSS read from /proc around it.
    def measure(self, key, label, server, script, path, script_args,
                expect_non_2xx=0.0, issues_tokens=False, note=""):
        url = f"http://127.0.0.1:{server.port}{path}"
        if self.options.warmup > 0:
            wrk(script, url, script_args, self.options.warmup)
        cpu_before = server.cpu()
        extra_before = self.extra_cpu() if self.extra_cpu else 0.0
        result = wrk(script, url, script_args, self.options.duration)
        cpu_used = server.cpu() - cpu_before
        if self.extra_cpu:
            extra = (self.extra_cpu() - extra_before) * 1e6 / max(
                1, result["requests"])
            note += f"; PostgreSQL's own CPU: {extra:.0f} µs/req more"
        seconds = result["duration_us"] / 1e6
        requests = max(1, result["requests"])
        row = {
            "key": key, "label": label, "server": server.name,
            "rps": result["requests"] / seconds,
            "p50_ms": result["p50_us"] / 1000,
            "p99_ms": result["p99_us"] / 1000,
            "non_2xx": result["non_2xx"],
            "expected_non_2xx": round(result["sent_invalid"])
            if expect_non_2xx else 0,
            "socket_errors": result["connect_errors"] + result["read_errors"]
            + result["write_errors"] + result["timeouts"],
            "peak_rss_mb": server.peak_rss_kb() / 1024,
            "cpu_us": cpu_used * 1e6 / requests,
            "requests": result["requests"],
            "exhausted": result["exhausted"],
            "issues_tokens": issues_tokens,
            "command": result["command"],
            "note": note,
        }
        self.results.append(row)
        log(f"{label}: {row['rps']:.0f}/s p50 {row['p50_ms']:.2f} ms "
            f"p99 {row['p99_ms']:.2f} ms non-2xx {row['non_2xx']} "
            f"rss {row['peak_rss_mb']:.1f} MB cpu {row['cpu_us']:.1f} us")
        return row

    def start(self, *args, **kwargs):
        server = Server(*args, **kwargs)
        self.servers.append(server)
        return server

    def stop(self, server):
        server.stop()
        self.servers.remove(server)

    def stop_all(self):
        for server in list(self.servers):
            self.stop(server)

    # --- tokend ---------------------------------------------------------

    def tokenctl_run(self, store, arguments, env=None):
        output = subprocess.run(
            [self.tokenctl, "--db", store] + arguments, check=True,
            capture_output=True, text=True, env=env, timeout=60).stdout
        return json.loads(output)

    def make_clients(self, store, env=None):
        client = self.tokenctl_run(store, [
            "client", "create", "--name", "bench", "--scope", "read write",
            "--json"], env)
        introspector = self.tokenctl_run(store, [
            "client", "create", "--name", "bench-introspector", "--scope",
            "read", "--permission", "introspect", "--json"], env)
        return {
            "client": basic(client["client_id"], client["client_secret"]),
            "introspector": basic(introspector["client_id"],
                                  introspector["client_secret"]),
        }

    def start_tokend(self, name, store, log_level="warn", env=None,
                     log_path=None):
        port = free_port()
        # One issuer for every instance: tokens minted by one are checked
        # by the next, and the default issuer names the listen port.
        command = [self.tokend, "--listen", f"127.0.0.1:{port}", "--db",
                   store, "--log-level", log_level, "--issuer",
                   "https://tokend.bench.example"]
        return self.start(name, command, port, env=env, log_path=log_path
                          or os.path.join(self.work, f"tokend-{port}.log"))

    def mint(self, server, credentials, count, prefix):
        """Mints count token pairs by client_credentials grants."""
        per_thread = -(-count // WRK_THREADS)
        files = [f"{prefix}.refresh.{n}" for n in range(WRK_THREADS)]
        limit = 10 + count / 1500
        wrk("mint.lua", f"http://127.0.0.1:{server.port}/v2/auth/token",
            [credentials, prefix, per_thread], limit,
            stop_when=lambda: line_count(files) >= per_thread * WRK_THREADS)
        refresh, access = [], []
        for n in range(WRK_THREADS):
            with open(f"{prefix}.refresh.{n}") as file:
                refresh += file.read().split()
            with open(f"{prefix}.access.{n}") as file:
                access += file.read().split()
        log(f"minted {len(refresh)} token pairs")
        return refresh, access

    def verify_token_answer(self, url, credentials, what):
        status, _, body = http("POST", url, CC_BODY, {
            "Authorization": "Basic " + credentials,
            "Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            raise RuntimeError(f"{what}: token request answered {status}: "
                               f"{body[:300]}")
        answer = json.loads(body)
        header = jwt_header(answer["access_token"])
        if answer["token_type"].lower() != "bearer" or \
                len(answer["access_token"].split(".")) != 3:
            raise RuntimeError(f"{what}: not a bearer JWT: {body[:300]}")
        self.facts[f"{what} token"] = (
            f"alg {header.get('alg')}, typ {header.get('typ')}, "
            f"{len(answer['access_token'])}-character access token, "
            f"{len(body)}-byte answer")
        return body

    def setup_tokend_store(self):
        self.store = os.path.join(self.work, "tokend.db")
        self.credentials = self.make_clients(self.store)
        server = self.start_tokend("tokend (setup)", self.store)
        try:
            url = f"http://127.0.0.1:{server.port}/v2/auth/token"
            self.sample_answer = self.verify_token_answer(
                url, self.credentials["client"], "tokend")
            _, self.access_tokens = self.mint(
                server, self.credentials["client"], CHECK_TOKENS,
                os.path.join(self.work, "check"))
        finally:
            self.stop(server)
        self.write_check_files()

    def write_check_files(self):
        valid = self.access_tokens[:CHECK_TOKENS]
        invalid = []
        for i in range(INVALID_TOKENS):
            token = valid[i % len(valid)]
            head, payload, signature = token.split(".")
            if i % 2 == 0:
                # A forged signature: well-formed, so it costs a verify.
                flipped = "A" if signature[10] != "A" else "B"
                signature = signature[:10] + flipped + signature[11:]
                invalid.append(f"{head}.{payload}.{signature}")
            else:
                invalid.append(f"{head}.{payload[:len(payload) // 2]}")
        self.valid_file = os.path.join(self.work, "valid.txt")
        self.invalid_file = os.path.join(self.work, "invalid.txt")
        with open(self.valid_file, "w") as file:
            file.write("\n".join(valid) + "\n")
        with open(self.invalid_file, "w") as file:
            file.write("\n".join(invalid) + "\n")

    # --- the steps ------------------------------------------------------

    def step_nginx(self):
        folder = os.path.join(self.work, "nginx")
        os.makedirs(folder, exist_ok=True)
        os.chmod(self.work, 0o755)
        os.chmod(folder, 0o755)
        port = free_port()
        body = self.sample_answer.replace("\\", "\\\\").replace("'", "\\'")
        with open(os.path.join(BENCH, "nginx.conf.in")) as template:
            config = template.read()
        config = config.replace("@FOLDER@", folder).replace(
            "@PORT@", str(port)).replace("@BODY@", body)
        config_path = os.path.join(folder, "nginx.conf")
        with open(config_path, "w") as file:
            file.write(config)
        server = self.start("nginx", ["nginx", "-c", config_path, "-p",
                                      folder], port,
                            log_path=os.path.join(folder, "stderr.log"))
        try:
            status, _, answer = http(
                "POST", f"http://127.0.0.1:{port}/v2/auth/token", CC_BODY,
                {"Authorization": "Basic " + self.credentials["client"]})
            if status != 200 or answer != self.sample_answer:
                raise RuntimeError(f"nginx answered {status}: {answer[:200]}")
            self.measure("nginx", "HTTP ceiling: nginx, fixed token answer",
                         server, "post.lua", "/v2/auth/token",
                         [CC_BODY, self.credentials["client"]],
                         note=f"1 worker, {len(self.sample_answer)}-byte "
                         "body, access_log off")
        finally:
            self.stop(server)

    def step_signing(self):
        seconds = self.options.duration
        for algorithm in ("ES256", "EdDSA"):
            output = subprocess.run(
                [self.sign, "--seconds", str(seconds), "--algorithm",
                 algorithm], check=True, capture_output=True, text=True,
                timeout=seconds + 60).stdout
            result = json.loads(output)
            self.signing[algorithm] = result
            log(f"signing ceiling {algorithm}: "
                f"{result['tokens_per_second']:.0f}/s on "
                f"{result['threads']} threads, "
                f"{result['cpu_us_per_token']:.1f} us CPU a token")
            if self.options.smoke:
                break

    def step_tokend_issue(self, key, label, store, credentials, env=None,
                          log_level="warn", note=""):
        log_path = os.path.join(self.work, f"{key}.log")
        server = self.start_tokend(label, store, log_level, env, log_path)
        try:
            if key == "tokend-sqlite":
                self.facts["tokend idle RSS MB"] = server.rss_kb() / 1024
                self.facts["tokend start to listening"] = (
                    f"{server.start_seconds * 1000:.0f} ms")
            self.verify_token_answer(
                f"http://127.0.0.1:{server.port}/v2/auth/token",
                credentials["client"], label)
            row = self.measure(key, label, server, "post.lua",
                               "/v2/auth/token",
                               [CC_BODY, credentials["client"]],
                               issues_tokens=True, note=note)
        finally:
            self.stop(server)
        if log_level == "info":
            size = os.path.getsize(log_path)
            row["note"] += (f"; log {size / row['requests']:.0f} bytes a "
                            "request to a file")
        return row

    def step_refresh(self, key, label, store, credentials, env=None,
                     note=""):
        """Mints enough never-used refresh tokens for warm-up and run
        (from the client_credentials rate measured before), restarts
        tokend, and refreshes each exactly once."""
        issue = self.row("tokend-sqlite")
        rate = issue["rps"] if issue else 20000
        count = int(rate * (self.options.warmup + self.options.duration)
                    * 1.3) + 2000
        prefix = os.path.join(self.work, key)
        server = self.start_tokend(label + " (minting)", store, env=env)
        try:
            refresh, _ = self.mint(server, credentials["client"], count,
                                   prefix)
        finally:
            self.stop(server)

        # Two halves, so warm-up never reuses a token the run refreshes;
        # one token kept aside to check the answers by hand.
        sample = refresh.pop()
        half = len(refresh) * self.options.warmup // (
            self.options.warmup + self.options.duration) \
            if self.options.warmup else 0
        warm, measured = refresh[:half], refresh[half:]
        for name, tokens in (("warm", warm), ("run", measured)):
            for n in range(WRK_THREADS):
                with open(f"{prefix}.{name}.{n}", "w") as file:
                    file.write("\n".join(tokens[n::WRK_THREADS]) + "\n")

        server = self.start_tokend(label, store, env=env, log_path=os.path.join(
            self.work, f"{key}.log"))
        try:
            self.verify_refresh(server, credentials["client"], sample)
            url = f"http://127.0.0.1:{server.port}/v2/auth/token"
            if self.options.warmup > 0:
                wrk("refresh.lua", url, [f"{prefix}.warm",
                                         credentials["client"]],
                    self.options.warmup)
            warmup, self.options.warmup = self.options.warmup, 0
            try:
                row = self.measure(key, label, server, "refresh.lua",
                                   "/v2/auth/token",
                                   [f"{prefix}.run", credentials["client"]],
                                   issues_tokens=True, note=note)
            finally:
                self.options.warmup = warmup
        finally:
            self.stop(server)
        if row["exhausted"]:
            row["note"] += "; ran out of pre-minted tokens (rate understated)"
        return row

    def verify_refresh(self, server, credentials, token):
        url = f"http://127.0.0.1:{server.port}/v2/auth/token"
        headers = {"Authorization": "Basic " + credentials,
                   "Content-Type": "application/x-www-form-urlencoded"}
        body = f"grant_type=refresh_token&refresh_token={token}"
        status, _, answer = http("POST", url, body, headers)
        if status != 200 or json.loads(answer)["refresh_token"] == token:
            raise RuntimeError(f"refresh answered {status}: {answer[:300]}")
        status, _, answer = http("POST", url, body, headers)
        if status != 400 or "invalid_grant" not in answer:
            raise RuntimeError(f"a reused refresh token answered {status}")

    def step_check(self, key="check", label="/v2/auth/check, 1,000 tokens "
                   "+ 5% invalid", env=None, note=""):
        server = self.start_tokend("tokend", self.store, env=env,
                                   log_path=os.path.join(self.work,
                                                         f"{key}.log"))
        try:
            url = f"http://127.0.0.1:{server.port}/v2/auth/check"
            status, headers, _ = http("GET", url, headers={
                "Authorization": "Bearer " + self.access_tokens[0]})
            if status != 200 or "X-Auth-Client-Id" not in headers:
                raise RuntimeError(f"check of a valid token: {status}")
            with open(self.invalid_file) as file:
                for token in file.read().split()[:2]:
                    status, _, _ = http("GET", url, headers={
                        "Authorization": "Bearer " + token})
                    if status != 401:
                        raise RuntimeError(f"invalid token answered {status}")
            self.measure(key, label, server, "check.lua", "/v2/auth/check",
                         [self.valid_file, self.invalid_file],
                         expect_non_2xx=0.05,
                         note="non-2xx must equal the invalid tokens sent"
                         + note)
        finally:
            self.stop(server)

    def step_introspect(self):
        server = self.start_tokend("tokend", self.store, log_path=os.path.join(
            self.work, "introspect.log"))
        try:
            url = f"http://127.0.0.1:{server.port}/v2/auth/introspect"
            status, _, answer = http("POST", url,
                                     "token=" + self.access_tokens[0], {
                                         "Authorization": "Basic "
                                         + self.credentials["introspector"],
                                         "Content-Type":
                                         "application/x-www-form-urlencoded"})
            if status != 200 or json.loads(answer).get("active") is not True:
                raise RuntimeError(f"introspection: {status} {answer[:200]}")
            self.measure("introspect", "introspection (RFC 7662), 1,000 tokens",
                         server, "introspect.lua", "/v2/auth/introspect",
                         [self.valid_file, self.credentials["introspector"]])
        finally:
            self.stop(server)

    # --- scale: 100,000 clients, 1,000,000 refresh families ---------------

    def step_scale(self, clients=100_000, families=1_000_000):
        """The RSS and start-up targets of issue 5 at their stated scale.
        tokenctl would take minutes to create 100,000 clients, so they are
        written straight into a copy of the SQLite store (random secret
        hashes: they never authenticate), with the families."""
        import sqlite3

        store = os.path.join(self.work, "scale.db")
        for suffix in ("", "-wal", "-shm", ".master-key"):
            if os.path.exists(self.store + suffix):
                shutil.copyfile(self.store + suffix, store + suffix)
        os.chmod(store, 0o600)
        now = int(time.time())
        connection = sqlite3.connect(store)
        try:
            with connection:
                connection.executemany(
                    "INSERT INTO clients (id, name, scope, secret_hash, "
                    "created_at) VALUES (?, ?, 'read write', ?, ?)",
                    ((os.urandom(16).hex(), f"scale-{n}", os.urandom(32), now)
                     for n in range(clients)))
                ids = [row[0] for row in connection.execute(
                    "SELECT id FROM clients")]
                connection.executemany(
                    "INSERT INTO refresh_families (id, client_id, generation,"
                    " expires_at) VALUES (?, ?, 1, ?)",
                    ((os.urandom(16), ids[n % len(ids)], now + 2592000)
                     for n in range(families)))
        finally:
            connection.close()

        server = self.start_tokend("tokend (scale)", store,
                                   log_path=os.path.join(self.work,
                                                         "scale.log"))
        try:
            url = f"http://127.0.0.1:{server.port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if http("GET", url + "/health")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.001)
            first_answer = time.monotonic() - server.started
            time.sleep(0.5)
            idle = server.rss_kb() / 1024
            self.verify_token_answer(url + "/v2/auth/token",
                                     self.credentials["client"], "scale")
            row = self.measure(
                "scale", f"tokend, SQLite, client_credentials, {clients:,} "
                f"clients, {families:,} families", server, "post.lua",
                "/v2/auth/token", [CC_BODY, self.credentials["client"]],
                issues_tokens=True, note="ES256, log level warn")
        finally:
            self.stop(server)
        self.facts["scale first answer ms"] = first_answer * 1000
        self.facts["scale"] = (
            f"{clients:,} clients and {families:,} refresh families: first "
            f"answer {first_answer * 1000:.0f} ms after exec, idle RSS "
            f"{idle:.1f} MB, peak RSS under load {row['peak_rss_mb']:.1f} MB")
        log(self.facts["scale"])

    # --- PostgreSQL -------------------------------------------------------

    def setup_postgres(self):
        start = os.path.join(ROOT, "scripts", "postgres-start")
        if not os.path.exists(start):
            self.postgres = None
            return "scripts/postgres-start does not exist yet"
        folder = os.path.join("/tmp", f"tokend-bench-pg-{os.getpid()}")
        try:
            url = subprocess.run([start, folder], check=True,
                                 capture_output=True, text=True,
                                 timeout=120).stdout.strip()
            env = dict(os.environ)
            env["TOKEND_MASTER_KEY"] = os.urandom(32).hex()
            database = f"tokend_bench_{os.getpid()}"
            subprocess.run(["psql", url, "-q", "-c",
                            f"CREATE DATABASE {database}"], check=True,
                           capture_output=True, timeout=60)
            store = url.rsplit("/", 1)[0] + "/" + database
            credentials = self.make_clients(store, env)
            self.postgres = {"folder": folder, "store": store, "env": env,
                             "credentials": credentials}
            return None
        except (subprocess.SubprocessError, OSError, ValueError) as error:
            detail = getattr(error, "stderr", "") or str(error)
            if isinstance(detail, bytes):
                detail = detail.decode(errors="replace")
            self.stop_postgres_folder(folder)
            self.postgres = None
            return "could not set up: " + detail.strip().splitlines()[-1] \
                if detail.strip() else "could not set up"

    def stop_postgres_folder(self, folder):
        stop = os.path.join(ROOT, "scripts", "postgres-stop")
        if os.path.exists(stop):
            subprocess.run([stop, "--remove", folder], capture_output=True,
                           timeout=120)

    def postgres_cpu(self):
        folder = self.postgres["folder"]
        try:
            with open(os.path.join(folder, "data", "postmaster.pid")) as file:
                pid = int(file.readline())
        except (OSError, ValueError):
            return 0.0
        # Backends that exited were reaped by the postmaster: their time
        # is in its cutime and cstime.
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        reaped = (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
        return cpu_seconds(process_tree(pid)) + reaped

    def with_postgres_cpu(self, function):
        """Runs a PostgreSQL step; measure() then adds the database
        server's CPU per request to its note: the store's work is part of
        the cost."""
        self.extra_cpu = self.postgres_cpu
        try:
            return function()
        finally:
            self.extra_cpu = None

    # --- the peers ----------------------------------------------------------

    def step_glewlwyd(self):
        try:
            from peers.glewlwyd import start_glewlwyd
        except ImportError as error:
            return f"cannot load bench/peers/glewlwyd.py: {error}"
        if shutil.which("glewlwyd") is None:
            return "glewlwyd is not installed (bench/install installs it)"
        folder = os.path.join(self.work, "glewlwyd")
        port = free_port()
        try:
            server, credentials, token_path = start_glewlwyd(
                self, folder, port)
        except RuntimeError as error:
            return f"could not be configured: {error}"
        try:
            self.verify_token_answer(
                f"http://127.0.0.1:{port}{token_path}", credentials,
                "glewlwyd")
            self.measure("glewlwyd", "glewlwyd 2.7 (OIDC plugin, SQLite)",
                         server, "post.lua", token_path,
                         [CC_BODY, credentials], issues_tokens=True,
                         note="ES256 at+jwt; PBKDF2 client secrets, a row "
                         "per token, log level WARNING")
        finally:
            self.stop(server)
        return None

    def step_oidc_provider(self):
        module = os.path.join(PEERS, "node_modules", "oidc-provider")
        if not os.path.isdir(module):
            return "not installed (bench/install runs npm install)"
        port = free_port()
        client, secret = "bench-client", os.urandom(24).hex()
        env = dict(os.environ, NODE_ENV="production")
        server = self.start("oidc-provider", [
            "node", os.path.join(PEERS, "oidc-provider.mjs"), str(port),
            client, secret], port, env=env, cwd=PEERS,
            log_path=os.path.join(self.work, "oidc-provider.log"))
        try:
            credentials = basic(client, secret)
            self.verify_token_answer(f"http://127.0.0.1:{port}/token",
                                     credentials, "oidc-provider")
            with open(os.path.join(module, "package.json")) as file:
                version = json.load(file)["version"]
            self.measure("oidc-provider",
                         f"node oidc-provider {version} (JWT, in memory)",
                         server, "post.lua", "/token",
                         [CC_BODY, credentials], issues_tokens=True,
                         note=f"ES256 at+jwt via resource indicators; node "
                         f"{subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()}, "
                         "one process, NODE_ENV=production")
        finally:
            self.stop(server)
        return None

    # --- the run ------------------------------------------------------------

    def row(self, key):
        for row in self.results:
            if row["key"] == key:
                return row
        return None

    def missing(self, key, label, reason):
        self.results.append({"key": key, "label": label, "missing": reason})
        log(f"{label}: {reason}")

    def postgres_step(self, key, label, step, note, threads=None):
        """A step on PostgreSQL. Its failure is recorded, not fatal: that
        store may still be being written when the benchmark runs."""
        pg = self.postgres
        if pg is None:
            self.missing(key, label, "not yet available: "
                         + (self.postgres_reason or "not set up"))
            return
        env = dict(pg["env"])
        if threads:
            env["TOKEND_THREADS"] = str(threads)
        try:
            self.with_postgres_cpu(lambda: step(
                key, label, pg["store"], pg["credentials"], env=env,
                note=note))
        except STEP_ERRORS as error:
            self.missing(key, label, f"not yet available: {error}")

    def peer_step(self, key, label, step):
        """A peer that cannot be set up is a row that says why."""
        try:
            reason = step()
        except STEP_ERRORS as error:
            reason = f"failed: {error}"
        if reason:
            self.missing(key, label, reason)

    def run(self):
        smoke = self.options.smoke
        from report import source_state
        self.facts["tokend"] = source_state(ROOT)
        self.facts["loadavg before"] = open("/proc/loadavg").read().strip()
        log(f"load average before: {self.facts['loadavg before']}")

        self.setup_tokend_store()
        self.step_nginx()
        self.step_signing()
        self.step_tokend_issue("tokend-sqlite",
                               "tokend, SQLite, client_credentials",
                               self.store, self.credentials,
                               note="ES256, log level warn")
        if not smoke:
            self.step_tokend_issue(
                "tokend-sqlite-info",
                "tokend, SQLite, client_credentials, log level info",
                self.store, self.credentials, log_level="info",
                note="ES256, one access line a request")
            self.postgres_reason = self.setup_postgres()
            self.postgres_step("tokend-postgres",
                               "tokend, PostgreSQL, client_credentials",
                               self.step_tokend_issue,
                               "ES256, log level warn")
            self.peer_step("glewlwyd", "glewlwyd", self.step_glewlwyd)
            self.peer_step("oidc-provider", "node oidc-provider",
                           self.step_oidc_provider)

        self.step_refresh("refresh-sqlite",
                          "tokend, SQLite, refresh_token (rotation)",
                          self.store, self.credentials,
                          note="each token refreshed once; durable rotation")
        if not smoke:
            # The group commit batches as many rotations as there are
            # requests waiting, and each HTTP worker thread waits for its
            # own: with one thread a core, batches hold two.
            threads = dict(os.environ, TOKEND_THREADS=str(CONNECTIONS))
            self.step_tokend_issue(
                "tokend-sqlite-threads",
                f"tokend, SQLite, client_credentials, --threads {CONNECTIONS}",
                self.store, self.credentials, env=threads,
                note="ES256, log level warn")
            self.step_refresh(
                "refresh-sqlite-threads",
                f"tokend, SQLite, refresh_token, --threads {CONNECTIONS}",
                self.store, self.credentials, env=threads,
                note="each token refreshed once; durable rotation")
            self.postgres_step("refresh-postgres",
                               "tokend, PostgreSQL, refresh_token (rotation)",
                               self.step_refresh,
                               "each token refreshed once; durable rotation")
            self.postgres_step(
                "refresh-postgres-threads",
                f"tokend, PostgreSQL, refresh_token, --threads {CONNECTIONS}",
                self.step_refresh,
                "each token refreshed once; durable rotation",
                threads=CONNECTIONS)
        self.step_check()
        if not smoke:
            # The verified-token cache is direct-mapped: with 4,096 slots
            # about a fifth of 1,000 tokens share a slot with another and
            # evict each other, so their checks verify the signature again.
            self.step_check(
                "check-cache", "/v2/auth/check, --verified-token-cache 65536",
                env=dict(os.environ, TOKEND_VERIFIED_TOKEN_CACHE="65536"),
                note="; the same load, a 16 times larger cache")
        self.step_introspect()
        if not smoke:
            self.peer_step("scale", "tokend at 100,000 clients",
                           self.step_scale)
        self.facts["loadavg after"] = open("/proc/loadavg").read().strip()

    def cleanup(self):
        self.stop_all()
        if getattr(self, "postgres", None):
            self.stop_postgres_folder(self.postgres["folder"])

    def micro_table(self):
        arguments = [self.micro] + (["--quick"] if self.options.smoke else [])
        return subprocess.run(arguments, check=True, capture_output=True,
                              text=True, timeout=300).stdout


def check_smoke(bench):
    """The smoke run judges no figure, only that every step answered."""
    failures = []
    for row in bench.results:
        if "missing" in row:
            continue
        if row["requests"] <= 0:
            failures.append(f"{row['label']}: no request completed")
        if row["socket_errors"]:
            failures.append(f"{row['label']}: {row['socket_errors']} "
                            "socket errors")
        expected = row["expected_non_2xx"]
        if abs(row["non_2xx"] - expected) > CONNECTIONS:
            failures.append(f"{row['label']}: {row['non_2xx']} non-2xx "
                            f"answers, {expected} expected")
    if not bench.signing:
        failures.append("the signing ceiling gave no figure")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build-bench"),
                        help="CMake build folder with tokend and bench/")
    parser.add_argument("--out", default=os.path.join(BENCH, "results"),
                        help="folder for the table, data and chart")
    parser.add_argument("--duration", type=int, default=10,
                        help="seconds of each measured run")
    parser.add_argument("--warmup", type=int, default=3,
                        help="seconds of warm-up before each run")
    parser.add_argument("--smoke", action="store_true",
                        help="tokend and nginx only, 1 s a step, no peers")
    options = parser.parse_args()
    if options.smoke:
        options.duration, options.warmup = 1, 0

    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not os.path.exists(
                f"/usr/sbin/{tool}"):
            sys.exit(f"bench: {tool} is missing: run make test-deps "
                     "or bench/install")
    os.environ["PATH"] += os.pathsep + "/usr/sbin"
    sys.path.insert(0, BENCH)
    from report import write_report

    bench = Bench(options)
    started = time.monotonic()
    try:
        bench.run()
        micro = bench.micro_table()
    finally:
        bench.cleanup()
    bench.facts["wall time"] = f"{time.monotonic() - started:.0f} s"
    os.makedirs(options.out, exist_ok=True)
    paths = write_report(bench, micro, options.out, smoke=options.smoke)
    for path in paths:
        log(f"wrote {os.path.relpath(path)}")

    if options.smoke:
        failures = check_smoke(bench)
        for failure in failures:
            print(f"bench smoke: FAIL {failure}")
        passed = len(bench.results) - len(failures)
        print(f"{passed} passed, {len(failures)} failed")
        sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
