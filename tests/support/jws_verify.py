"""Verifies ES256 and EdDSA (Ed25519) JWS signatures against a JWKS with
the standard library only, so that the integration tests can prove that a
token verifies with the published key and not merely that it has a kid.
Slow (pure Python) and not constant-time: for tests, never for a server."""

import base64
import hashlib
import json


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- P-256 (FIPS 186-4, D.1.2.3) ------------------------------------------

P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_A = P256_P - 3
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P256_G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
          0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)


def _p256_add(one, other):
    if one is None:
        return other
    if other is None:
        return one
    (x1, y1), (x2, y2) = one, other
    if x1 == x2 and (y1 + y2) % P256_P == 0:
        return None
    if one == other:
        slope = (3 * x1 * x1 + P256_A) * pow(2 * y1, -1, P256_P)
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, P256_P)
    x3 = (slope * slope - x1 - x2) % P256_P
    return x3, (slope * (x1 - x3) - y1) % P256_P


def _multiply(scalar, point, add, identity):
    """Double and add: scalar times point on the curve whose point addition
    is add and whose neutral element is identity."""
    result = identity
    while scalar:
        if scalar & 1:
            result = add(result, point)
        point = add(point, point)
        scalar >>= 1
    return result


def _p256_multiply(scalar, point):
    return _multiply(scalar, point, _p256_add, None)


def _verify_es256(jwk, signing_input, signature):
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        return False
    x = int.from_bytes(b64url_decode(jwk["x"]), "big")
    y = int.from_bytes(b64url_decode(jwk["y"]), "big")
    if (y * y - (x * x * x + P256_A * x + P256_B)) % P256_P != 0:
        return False
    if len(signature) != 64:
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not (0 < r < P256_N and 0 < s < P256_N):
        return False
    digest = int.from_bytes(hashlib.sha256(signing_input).digest(), "big")
    w = pow(s, -1, P256_N)
    point = _p256_add(_p256_multiply(digest * w % P256_N, P256_G),
                      _p256_multiply(r * w % P256_N, (x, y)))
    return point is not None and point[0] % P256_N == r


# --- Ed25519 (RFC 8032 §5.1.7), extended coordinates -----------------------

ED_P = 2**255 - 19
ED_L = 2**252 + 27742317777372353535851937790883648493
ED_D = -121665 * pow(121666, -1, ED_P) % ED_P
ED_SQRT_M1 = pow(2, (ED_P - 1) // 4, ED_P)


def _ed_add(one, other):
    x1, y1, z1, t1 = one
    x2, y2, z2, t2 = other
    a = (y1 - x1) * (y2 - x2) % ED_P
    b = (y1 + x1) * (y2 + x2) % ED_P
    c = 2 * t1 * t2 * ED_D % ED_P
    d = 2 * z1 * z2 % ED_P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % ED_P, g * h % ED_P, f * g % ED_P, e * h % ED_P


def _ed_multiply(scalar, point):
    return _multiply(scalar, point, _ed_add, (0, 1, 1, 0))


def _ed_equal(one, other):
    x1, y1, z1, _ = one
    x2, y2, z2, _ = other
    return (x1 * z2 - x2 * z1) % ED_P == 0 and (y1 * z2 - y2 * z1) % ED_P == 0


def _ed_decode(data):
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= ED_P:
        return None
    x2 = (y * y - 1) * pow(ED_D * y * y + 1, -1, ED_P) % ED_P
    x = pow(x2, (ED_P + 3) // 8, ED_P)
    if (x * x - x2) % ED_P != 0:
        x = x * ED_SQRT_M1 % ED_P
    if (x * x - x2) % ED_P != 0 or (x == 0 and sign):
        return None
    if x & 1 != sign:
        x = ED_P - x
    return x, y, 1, x * y % ED_P


ED_BASE = _ed_decode(
    (4 * pow(5, -1, ED_P) % ED_P).to_bytes(32, "little"))


def _verify_eddsa(jwk, signing_input, signature):
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        return False
    public = b64url_decode(jwk["x"])
    if len(signature) != 64:
        return False
    key_point = _ed_decode(public)
    r_point = _ed_decode(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if key_point is None or r_point is None or s >= ED_L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public +
                                      signing_input).digest(), "little")
    return _ed_equal(_ed_multiply(s, ED_BASE),
                     _ed_add(r_point, _ed_multiply(h % ED_L, key_point)))


VERIFIERS = {"ES256": _verify_es256, "EdDSA": _verify_eddsa}


def verify(token, jwks):
    """True when the token's signature verifies with the JWKS key its kid
    names, under the algorithm its header and that key both name."""
    try:
        header_part, claims_part, signature_part = token.split(".")
        header = json.loads(b64url_decode(header_part))
        signature = b64url_decode(signature_part)
    except ValueError:
        return False
    keys = [key for key in jwks.get("keys", [])
            if key.get("kid") == header.get("kid")]
    verifier = VERIFIERS.get(header.get("alg"))
    if len(keys) != 1 or verifier is None:
        return False
    if keys[0].get("alg", header["alg"]) != header["alg"]:
        return False
    signing_input = (header_part + "." + claims_part).encode()
    return verifier(keys[0], signing_input, signature)
