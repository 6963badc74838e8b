"""glewlwyd as make bench measures it: the Debian package's own config
with its SQLite backend (a new database from the package's init script),
log level WARNING, an OpenID Connect plugin instance (the plugin its docs
recommend; the OAuth2 one is deprecated) signing ES256 access tokens, and
one confidential client allowed the client_credentials grant. Everything
is set through glewlwyd's admin API, as its docs describe, with the
default admin account of a new database.

glewlwyd-oidc-defaults.json holds the defaults its admin page fills in
for a new OIDC plugin instance (from /usr/share/glewlwyd/webapp/admin.js);
only the settings below change.
"""

import base64
import gzip
import http.cookiejar
import json
import os
import re
import sqlite3
import subprocess
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SHARE = "/usr/share/doc/glewlwyd"
CLIENT_ID = "bench"


def _admin_api(port):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar))

    def call(method, path, body=None):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        try:
            with opener.open(request, timeout=30) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"admin API {method} {path}: {error.code} "
                               f"{error.read().decode()[:200]}") from None

    return call


def _config(folder, port, database):
    with open("/etc/glewlwyd/glewlwyd.conf") as file:
        text = file.read()
    replacements = {
        r"(?m)^port=.*$": f"port={port}",
        r"(?m)^external_url=.*$": f'external_url="http://127.0.0.1:{port}/"',
        r"(?m)^log_mode=.*$": 'log_mode="console"',
        r"(?m)^log_level=.*$": 'log_level="WARNING"',
        r'(?m)^@include "/etc/glewlwyd/glewlwyd-db.conf"$':
            f'database = {{ type = "sqlite3"\n path = "{database}" }};',
    }
    for pattern, value in replacements.items():
        text, count = re.subn(pattern, value, text)
        if count != 1:
            raise RuntimeError(f"glewlwyd.conf changed shape ({pattern})")
    path = os.path.join(folder, "glewlwyd.conf")
    with open(path, "w") as file:
        file.write(text)
    return path


def _keys(folder):
    key = os.path.join(folder, "es256.key")
    public = os.path.join(folder, "es256.pub")
    subprocess.run(["openssl", "ecparam", "-genkey", "-name", "prime256v1",
                    "-noout", "-out", key], check=True, capture_output=True)
    subprocess.run(["openssl", "ec", "-in", key, "-pubout", "-out", public],
                   check=True, capture_output=True)
    with open(key) as k, open(public) as p:
        return k.read(), p.read()


def start_glewlwyd(bench, folder, port):
    """Returns (server, Basic credentials, token path)."""
    os.makedirs(folder, exist_ok=True)
    database = os.path.join(folder, "glewlwyd.db")
    with gzip.open(os.path.join(SHARE, "database", "init.sqlite3.sql.gz"),
                   "rt") as script:
        connection = sqlite3.connect(database)
        connection.executescript(script.read())
        connection.close()
    config = _config(folder, port, database)
    server = bench.start("glewlwyd", ["glewlwyd", "--config-file", config],
                         port, log_path=os.path.join(folder, "glewlwyd.log"))
    try:
        call = _admin_api(port)
        call("POST", "/auth/", {"username": "admin", "password": "password"})
        call("POST", "/scope/", {"name": "read", "display_name": "read",
                                 "description": "bench", "scheme": {},
                                 "password_required": False})
        call("POST", "/scope/", {"name": "write", "display_name": "write",
                                 "description": "bench", "scheme": {},
                                 "password_required": False})
        key, public = _keys(folder)
        with open(os.path.join(HERE, "glewlwyd-oidc-defaults.json")) as file:
            parameters = json.load(file)
        parameters.update({
            "iss": f"http://127.0.0.1:{port}/api/oidc",
            "jwt-type": "ecdsa", "jwt-key-size": "256",
            "key": key, "cert": public,
            "access-token-duration": 3600,
            # client_credentials is a non-OpenID grant: the plugin serves
            # it only with allow-non-oidc.
            "allow-non-oidc": True, "auth-type-client-enabled": True,
            "allowed-scope": ["openid", "read", "write"],
        })
        call("POST", "/mod/plugin/", {"module": "oidc", "name": "oidc",
                                      "display_name": "OIDC",
                                      "enabled": True,
                                      "parameters": parameters})
        secret = os.urandom(24).hex()
        call("POST", "/client/", {
            "client_id": CLIENT_ID, "name": "bench", "enabled": True,
            "confidential": True, "password": secret,
            "authorization_type": ["client_credentials"],
            "token_endpoint_auth_method": ["client_secret_basic"],
            "scope": ["read", "write"], "redirect_uri": []})
    except (RuntimeError, OSError, subprocess.SubprocessError):
        bench.stop(server)
        raise
    credentials = base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode()
    return server, credentials, "/api/oidc/token"
