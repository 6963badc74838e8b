"""Writes the seed corpora of fuzz/corpus/<harness>/ from a real run: it
starts the real tokend (TOKEND_BIN, TOKENCTL_BIN as in the tests), creates
a client, takes a real access token and refresh token from it, and writes
small valid examples of what each parser reads, in each harness's input
format (see the comment at the top of each fuzz_*.c). Run it again only to
refresh the seeds; the corpora are committed.

    TOKEND_BIN=build/tokend TOKENCTL_BIN=build/tokenctl \\
        python3 fuzz/seed_corpus.py
"""

import base64
import hashlib
import os
import struct
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "support"))

import tokend_harness  # noqa: E402

CORPUS = os.path.join(HERE, "corpus")


def write(harness, name, data):
    folder = os.path.join(CORPUS, harness)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as seed:
        seed.write(data)


def unpadded(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def real_run():
    tokend = tokend_harness.Tokend()
    tokend.start()
    try:
        client = tokend.create_client(name="seed", scope="read write",
                                      permission="introspect")
        answer = tokend.issue(client, scope="read")
        return client, answer
    finally:
        tokend.stop()
        tokend_harness.remove_test_folder(tokend.folder)


def form_seeds(client, answer):
    write("form", "client_credentials",
          "grant_type=client_credentials&scope=read+write")
    write("form", "refresh_in_body", urllib.parse.urlencode({
        "grant_type": "refresh_token",
        "refresh_token": answer["refresh_token"],
        "client_id": client["client_id"],
        "client_secret": client["client_secret"]}))
    write("form", "revoke", urllib.parse.urlencode({
        "token": answer["access_token"],
        "token_type_hint": "access_token"}))
    write("form", "escapes", "a=%41%2b%3D&b=x+y&c=&d&e=%7e%C3%A9")


def authorization_seeds(client, answer):
    pair = (urllib.parse.quote_plus(client["client_id"]) + ":" +
            urllib.parse.quote_plus(client["client_secret"]))
    basic = base64.b64encode(pair.encode()).decode()
    write("authorization", "basic", b"\x00Basic " + basic.encode())
    write("authorization", "basic_escaped", b"\x07basic  " +
          base64.b64encode(b"a%3Ab:c%25d+e").rstrip(b"="))
    write("authorization", "bearer",
          b"\x00Bearer " + answer["access_token"].encode())
    write("authorization", "bearer_padded", b"\x00Bearer abc-._~+/==")


def jwt_seeds(answer):
    token = answer["access_token"]
    header, payload, _ = token.split(".")
    write("jwt", "token", b"\x00" + token.encode())
    write("jwt", "edit", b"\x01\x00\x05A\x00\x40.\x7f")
    write("jwt", "signed_json",
          b"\x02" + unpadded(header) + b"\n" + unpadded(payload))
    write("jwt", "signed_json_aud_array", b"\x02" +
          b'{"alg":"EdDSA","kid":"k","typ":"application/at+jwt"}\n'
          b'{"iss":"i","sub":"s","aud":["a","b"],"exp":2,"iat":1,'
          b'"jti":"j","client_id":"c","scope":"x y"}')
    write("jwt", "claims", b"\x03https://issuer\x00member\x00api\x00"
          b"client\x00read write\x00jti")


def refresh_record():
    """A record as refresh_token.c lays it out, without its tag."""
    client_id = b"0123456789abcdef0123456789abcdef"
    scope = b"read write"
    return (b"\x01" + bytes(range(16)) + struct.pack(">I", 3) +
            (1700000000).to_bytes(5, "big") +
            (1702592000).to_bytes(5, "big") +
            bytes([len(client_id)]) + client_id + bytes([len(scope)]) + scope)


def refresh_token_seeds(answer):
    write("refresh_token", "token",
          b"\x00" + answer["refresh_token"].encode())
    write("refresh_token", "record", b"\x01" + refresh_record())
    write("refresh_token", "fields", b"\x02" + bytes(range(16)) +
          struct.pack("<Iqq", 7, 1700000000, 1702592000) +
          b"client\x00read write")


def settings_seeds():
    write("settings", "listen_and_db",
          b"--listen\x00127.0.0.1:0\x00--db\x00sqlite:/tmp/x.db")
    write("settings", "equals_forms",
          b"--access-token-ttl=600\x00--max-body-size=4096\x00"
          b"--auth-failure-limit=0\x00--issuer=https://auth.example.com")
    write("settings", "out_of_bounds", b"--threads\x00999\x00--realm")
    write("settings", "help", b"--help")


def master_key_seeds():
    key = hashlib.sha256(b"seed").hexdigest()
    write("master_key", "key_file", key + "\n")
    write("master_key", "key_spaces", " \t" + key.upper() + " \r\n")
    write("master_key", "sealed", bytes(range(40)) + b"sealed key bytes")


HTTP_SEEDS = {
    "token_basic":
        "POST /v2/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Authorization: Basic @B@\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: @L@\r\n\r\n"
        "grant_type=client_credentials&scope=read",
    "token_body_credentials":
        "POST /v2/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
        "Content-Length: @L@\r\n\r\n"
        "grant_type=client_credentials&client_id=@I@&client_secret=@S@",
    "token_disabled":
        "POST /v2/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Authorization: Basic @D@\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: @L@\r\n\r\ngrant_type=client_credentials",
    "refresh":
        "POST /v2/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: @L@\r\n\r\n"
        "grant_type=refresh_token&refresh_token=@R@"
        "&client_id=@I@&client_secret=@S@",
    "revoke":
        "POST /v2/auth/revoke HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Authorization: Basic @B@\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: @L@\r\n\r\n"
        "token=@R@&token_type_hint=refresh_token",
    "introspect":
        "POST /v2/auth/introspect HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Authorization: Basic @B@\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: @L@\r\n\r\ntoken=@A@",
    "check":
        "GET /v2/auth/check?scope=read HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Authorization: Bearer @A@\r\n\r\n",
    "whoami":
        "GET /v2/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Authorization: Bearer @A@\r\n\r\n",
    "metadata_and_jwks_pipelined":
        "GET /.well-known/oauth-authorization-server HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n\r\n"
        "HEAD /.well-known/jwks.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        "GET /health HTTP/1.0\r\n\r\n",
    "method_not_allowed":
        "DELETE /v2/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "expect_continue":
        "POST /v2/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Expect: 100-continue\r\nAuthorization: Basic @B@\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: @L@\r\n\r\ngrant_type=client_credentials",
    "chunked":
        "POST /v2/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Authorization: Basic @B@\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n\r\n"
        "d\r\ngrant_type=cl\r\n10\r\nient_credentials\r\n0\r\n\r\n",
    "too_large":
        "POST /v2/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Length: 99999\r\n\r\n",
}


def main():
    client, answer = real_run()
    form_seeds(client, answer)
    authorization_seeds(client, answer)
    jwt_seeds(answer)
    refresh_token_seeds(answer)
    settings_seeds()
    master_key_seeds()
    for name, text in HTTP_SEEDS.items():
        write("http", name, text)


if __name__ == "__main__":
    main()
