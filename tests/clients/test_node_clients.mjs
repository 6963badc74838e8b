// Third-party Node clients against the real tokend, unchanged:
// oauth4webapi (RFC 8414 discovery, both grants, RFC 7009 revocation,
// RFC 7662 introspection, RFC 9068 access-token validation) and jose
// (JWKS + JWT verification). The only concession is oauth4webapi's own
// switch for plain http on loopback, allowInsecureRequests.
//
// Packages are resolved from tests/clients/node_modules, next to this file
// (`make test-deps` installs them from package-lock.json).

import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';

import * as oauth from 'oauth4webapi';
import * as jose from 'jose';

import { Tokend } from './tokend_harness.mjs';

// Issue 3: a revoked access token is refused "within one second of the
// revocation, on the same instance" (RFC 7009 §2.2 allows a delay); tokend
// reloads its in-memory revocation set asynchronously, so the checks that
// follow a revocation poll for up to this long.
const REVOCATION_DELAY_MS = 1000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(probe, accept, timeoutMs = REVOCATION_DELAY_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await probe();
    if (accept(answer) || Date.now() >= deadline) return answer;
    await sleep(20);
  }
}

const insecure = { [oauth.allowInsecureRequests]: true };
const withTimeout = () => ({ ...insecure, signal: AbortSignal.timeout(10000) });

const server = new Tokend();
let issuer;
let as;
let alpha; // scope "read write"
let beta; // scope "read"
let gateway; // may introspect any token

before(async () => {
  await server.start();
  issuer = new URL(server.issuer);
  alpha = await server.createClient({ name: 'node alpha', scope: 'read write' });
  beta = await server.createClient({ name: 'node beta', scope: 'read' });
  gateway = await server.createClient({ name: 'node gateway', permission: 'introspect' });
});

after(async () => {
  const code = await server.stop();
  server.cleanup();
  assert.equal(code, 0, 'tokend stops cleanly on SIGTERM');
});

async function discover() {
  if (as === undefined) {
    const response = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...withTimeout() });
    as = await oauth.processDiscoveryResponse(issuer, response);
  }
  return as;
}

const auths = {
  client_secret_basic: (c) => oauth.ClientSecretBasic(c.client_secret),
  client_secret_post: (c) => oauth.ClientSecretPost(c.client_secret),
};

async function clientCredentials(c, method = 'client_secret_basic', parameters = {}) {
  const as = await discover();
  const client = { client_id: c.client_id };
  const response = await oauth.clientCredentialsGrantRequest(as, client, auths[method](c), parameters, withTimeout());
  return oauth.processClientCredentialsResponse(as, client, response);
}

async function refresh(c, refreshToken, method = 'client_secret_basic') {
  const as = await discover();
  const client = { client_id: c.client_id };
  const response = await oauth.refreshTokenGrantRequest(as, client, auths[method](c), refreshToken, withTimeout());
  return oauth.processRefreshTokenResponse(as, client, response);
}

async function introspect(c, token, method = 'client_secret_basic') {
  const as = await discover();
  const client = { client_id: c.client_id };
  const response = await oauth.introspectionRequest(as, client, auths[method](c), token, withTimeout());
  return oauth.processIntrospectionResponse(as, client, response);
}

async function revoke(c, token, method = 'client_secret_basic', hint) {
  const as = await discover();
  const client = { client_id: c.client_id };
  const options = withTimeout();
  if (hint) options.additionalParameters = { token_type_hint: hint };
  const response = await oauth.revocationRequest(as, client, auths[method](c), token, options);
  return oauth.processRevocationResponse(response);
}

// GET /v2/whoami through oauth4webapi. A 401 comes back as the library's
// WWWAuthenticateChallengeError; its parsed challenge is returned as well.
async function whoami(accessToken) {
  try {
    const response = await oauth.protectedResourceRequest(accessToken, 'GET', new URL('/v2/whoami', issuer),
      undefined, undefined, withTimeout());
    return { status: response.status, response, challenge: null };
  } catch (error) {
    if (!(error instanceof oauth.WWWAuthenticateChallengeError)) throw error;
    return { status: error.status, response: error.response, challenge: error.cause[0] };
  }
}

async function rejects(promise, check) {
  let caught;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught, 'the library must throw');
  await check(caught);
}

test('discovery: RFC 8414 metadata processed by oauth4webapi', async () => {
  const as = await discover();
  assert.equal(as.issuer, server.issuer);
  assert.equal(as.token_endpoint, server.url('/v2/auth/token'));
  assert.equal(as.jwks_uri, server.url('/.well-known/jwks.json'));
  assert.equal(as.revocation_endpoint, server.url('/v2/auth/revoke'));
  assert.equal(as.introspection_endpoint, server.url('/v2/auth/introspect'));
  for (const grant of ['client_credentials', 'refresh_token']) {
    assert.ok(as.grant_types_supported.includes(grant), grant);
  }
  for (const method of ['client_secret_basic', 'client_secret_post']) {
    assert.ok(as.token_endpoint_auth_methods_supported.includes(method), method);
  }
  // The library checks the issuer it was given against the document.
  const other = new URL('http://127.0.0.1:1');
  const response = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...withTimeout() });
  await rejects(oauth.processDiscoveryResponse(other, response), (error) => {
    assert.equal(error.code, oauth.JSON_ATTRIBUTE_COMPARISON);
  });
});

for (const method of Object.keys(auths)) {
  test(`client_credentials then refresh with ${method}`, async () => {
    const token = await clientCredentials(alpha, method);
    assert.equal(token.token_type, 'bearer');
    assert.equal(token.expires_in, 3600);
    assert.equal(typeof token.access_token, 'string');
    assert.equal(typeof token.refresh_token, 'string');

    let answer = await whoami(token.access_token);
    assert.equal(answer.status, 200);
    const me = await answer.response.json();
    assert.equal(me.client_id, alpha.client_id);
    assert.equal(me.name, 'node alpha');

    const refreshed = await refresh(alpha, token.refresh_token, method);
    assert.equal(refreshed.token_type, 'bearer');
    assert.notEqual(refreshed.access_token, token.access_token);
    assert.notEqual(refreshed.refresh_token, token.refresh_token);
    answer = await whoami(refreshed.access_token);
    assert.equal(answer.status, 200);
    assert.equal((await answer.response.json()).client_id, alpha.client_id);

    // The spent refresh token: a 400 invalid_grant body error.
    await rejects(refresh(alpha, token.refresh_token, method), (error) => {
      assert.ok(error instanceof oauth.ResponseBodyError, error);
      assert.equal(error.error, 'invalid_grant');
      assert.equal(error.status, 400);
    });
    // ... and the reuse revoked the family, so the newest one is dead too
    // (RFC 9700 §4.14.2).
    await rejects(refresh(alpha, refreshed.refresh_token, method), (error) => {
      assert.ok(error instanceof oauth.ResponseBodyError, error);
      assert.equal(error.error, 'invalid_grant');
    });
  });
}

test('scope: narrowed on request and echoed; wider is invalid_scope', async () => {
  const token = await clientCredentials(alpha, 'client_secret_basic', { scope: 'read' });
  assert.equal(token.scope, 'read');
  assert.equal(jose.decodeJwt(token.access_token).scope, 'read');
  await rejects(clientCredentials(beta, 'client_secret_post', { scope: 'read write' }), (error) => {
    assert.ok(error instanceof oauth.ResponseBodyError, error);
    assert.equal(error.error, 'invalid_scope');
    assert.equal(error.status, 400);
  });
});

for (const method of Object.keys(auths)) {
  test(`wrong secret with ${method} surfaces invalid_client`, async () => {
    const wrong = { ...alpha, client_secret: alpha.client_secret.replace(/^./, (c) => (c === 'x' ? 'y' : 'x')) };
    await rejects(clientCredentials(wrong, method), async (error) => {
      // RFC 6749 §5.2: 401 with a WWW-Authenticate challenge; oauth4webapi
      // surfaces a challenge before the body, and keeps the response.
      assert.ok(error instanceof oauth.WWWAuthenticateChallengeError, error);
      assert.equal(error.code, oauth.WWW_AUTHENTICATE_CHALLENGE);
      assert.equal(error.status, 401);
      assert.equal(error.cause[0].scheme, 'basic');
      assert.equal(typeof error.cause[0].parameters.realm, 'string');
      const body = await error.response.json();
      assert.equal(body.error, 'invalid_client');
    });
  });
}

test('another client\'s refresh token is invalid_grant', async () => {
  const token = await clientCredentials(alpha);
  await rejects(refresh(beta, token.refresh_token), (error) => {
    assert.ok(error instanceof oauth.ResponseBodyError, error);
    assert.equal(error.error, 'invalid_grant');
  });
  // Still good for its owner.
  await refresh(alpha, token.refresh_token);
});

for (const method of Object.keys(auths)) {
  test(`introspection with ${method}`, async () => {
    const token = await clientCredentials(alpha, method);
    const info = await introspect(alpha, token.access_token, method);
    assert.equal(info.active, true);
    assert.equal(info.client_id, alpha.client_id);
    assert.equal(info.scope, 'read write');
    assert.equal(info.sub, alpha.client_id);
    assert.equal(info.iss, server.issuer);
    assert.equal(typeof info.exp, 'number');
    assert.equal(typeof info.jti, 'string');

    const refreshInfo = await introspect(alpha, token.refresh_token, method);
    assert.equal(refreshInfo.active, true);
    assert.equal(refreshInfo.client_id, alpha.client_id);

    // A client sees only its own tokens; the gateway sees any.
    assert.deepEqual(await introspect(beta, token.access_token, method), { active: false });
    const seen = await introspect(gateway, token.access_token, method);
    assert.equal(seen.active, true);
    assert.equal(seen.client_id, alpha.client_id);

    for (const junk of ['not-a-token', token.access_token.slice(0, -4) + 'AAAA']) {
      assert.deepEqual(await introspect(alpha, junk, method), { active: false });
    }
  });
}

for (const method of Object.keys(auths)) {
  test(`revocation with ${method}`, async () => {
    const token = await clientCredentials(alpha, method);

    // Another client's attempt is a quiet no-op (RFC 7009 §2.1, §2.2).
    assert.equal(await revoke(beta, token.access_token, method), undefined);
    await sleep(REVOCATION_DELAY_MS + 100); // past any propagation
    assert.equal((await introspect(alpha, token.access_token, method)).active, true);
    assert.equal((await whoami(token.access_token)).status, 200);

    assert.equal(await revoke(alpha, token.access_token, method, 'access_token'), undefined);
    const answer = await eventually(() => whoami(token.access_token), (a) => a.status === 401);
    assert.equal(answer.status, 401);
    assert.equal(answer.challenge.scheme, 'bearer');
    assert.equal(answer.challenge.parameters.error, 'invalid_token');
    assert.deepEqual(await introspect(alpha, token.access_token, method), { active: false });
    const check = await fetch(server.url('/v2/auth/check'), {
      headers: { authorization: `Bearer ${token.access_token}` },
      signal: AbortSignal.timeout(10000),
    });
    assert.equal(check.status, 401);

    // Revoking the refresh token: its whole family stops working.
    const rotated = await refresh(alpha, token.refresh_token, method);
    assert.equal(await revoke(alpha, token.refresh_token, method, 'refresh_token'), undefined);
    await rejects(refresh(alpha, rotated.refresh_token, method), (error) => {
      assert.ok(error instanceof oauth.ResponseBodyError, error);
      assert.equal(error.error, 'invalid_grant');
    });
    assert.deepEqual(await introspect(alpha, rotated.refresh_token, method), { active: false });

    // Unknown and already revoked tokens: 200 all the same.
    assert.equal(await revoke(alpha, 'not-a-token', method), undefined);
    assert.equal(await revoke(alpha, token.access_token, method), undefined);
  });
}

test('revocation and introspection need client authentication', async () => {
  const as = await discover();
  const token = await clientCredentials(alpha);
  const client = { client_id: alpha.client_id };
  const wrong = oauth.ClientSecretBasic('not-the-secret');
  const invalidClient = async (error) => {
    assert.ok(error instanceof oauth.WWWAuthenticateChallengeError, error);
    assert.equal(error.status, 401);
    assert.equal(error.cause[0].scheme, 'basic');
    assert.equal((await error.response.json()).error, 'invalid_client');
  };
  let response = await oauth.revocationRequest(as, client, wrong, token.access_token, withTimeout());
  await rejects(oauth.processRevocationResponse(response), invalidClient);
  response = await oauth.introspectionRequest(as, client, wrong, token.access_token, withTimeout());
  await rejects(oauth.processIntrospectionResponse(as, client, response), invalidClient);
  // Nothing was revoked.
  assert.equal((await whoami(token.access_token)).status, 200);
  // A token that is not there: invalid_request (RFC 7009 §2.1 requires it).
  response = await fetch(as.revocation_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: alpha.client_id, client_secret: alpha.client_secret }),
    signal: AbortSignal.timeout(10000),
  });
  await rejects(oauth.processRevocationResponse(response), (error) => {
    assert.ok(error instanceof oauth.ResponseBodyError, error);
    assert.equal(error.error, 'invalid_request');
    assert.equal(error.status, 400);
  });
});

test('oauth4webapi validateJwtAccessToken accepts the RFC 9068 access token', async () => {
  const as = await discover();
  const token = await clientCredentials(alpha);
  const request = new Request(server.url('/api'), { headers: { authorization: `Bearer ${token.access_token}` } });
  const claims = await oauth.validateJwtAccessToken(as, request, server.issuer, withTimeout());
  assert.equal(claims.client_id, alpha.client_id);
  assert.equal(claims.iss, server.issuer);
  assert.equal(claims.scope, 'read write');

  const foreign = new Request(server.url('/api'), { headers: { authorization: `Bearer ${token.access_token}` } });
  await rejects(oauth.validateJwtAccessToken(as, foreign, 'https://other.example', withTimeout()), (error) => {
    assert.equal(error.code, oauth.JWT_CLAIM_COMPARISON);
  });
});

test('jose verifies the access token against the remote JWKS', async () => {
  const as = await discover();
  const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri), { timeoutDuration: 10000 });
  const token = await clientCredentials(alpha);
  const options = { issuer: server.issuer, audience: server.issuer, typ: 'at+jwt', algorithms: ['ES256'] };

  const { payload, protectedHeader } = await jose.jwtVerify(token.access_token, jwks, options);
  assert.equal(protectedHeader.alg, 'ES256');
  assert.equal(protectedHeader.typ.toLowerCase(), 'at+jwt');
  assert.equal(typeof protectedHeader.kid, 'string');
  assert.equal(payload.iss, server.issuer);
  assert.equal(payload.aud, server.issuer);
  assert.equal(payload.sub, alpha.client_id);
  assert.equal(payload.client_id, alpha.client_id);
  assert.equal(payload.scope, 'read write');
  assert.equal(payload.exp - payload.iat, 3600);
  assert.equal(typeof payload.jti, 'string');

  // Tampered claims, a flipped signature, wrong expectations: all refused.
  const [header, body, signature] = token.access_token.split('.');
  const claims = JSON.parse(Buffer.from(body, 'base64url'));
  claims.scope = 'read write admin';
  const forged = [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
  await assert.rejects(jose.jwtVerify(forged, jwks, options), jose.errors.JWSSignatureVerificationFailed);
  const sig = Buffer.from(signature, 'base64url');
  sig[10] ^= 0x01;
  const flipped = [header, body, sig.toString('base64url')].join('.');
  await assert.rejects(jose.jwtVerify(flipped, jwks, options), jose.errors.JWSSignatureVerificationFailed);
  for (const bad of [forged, flipped]) {
    const answer = await whoami(bad);
    assert.equal(answer.status, 401);
    assert.equal(answer.challenge.parameters.error, 'invalid_token');
  }

  await assert.rejects(jose.jwtVerify(token.access_token, jwks, { ...options, issuer: 'http://127.0.0.1:1' }),
    jose.errors.JWTClaimValidationFailed);
  await assert.rejects(jose.jwtVerify(token.access_token, jwks, { ...options, audience: 'https://other.example' }),
    jose.errors.JWTClaimValidationFailed);
  await assert.rejects(jose.jwtVerify(token.access_token, jwks, { ...options, typ: 'JWT' }),
    jose.errors.JWTClaimValidationFailed);
  await assert.rejects(jose.jwtVerify(token.access_token, jwks, { ...options, currentDate: new Date((payload.exp + 1) * 1000) }),
    jose.errors.JWTExpired);
});

test('EdDSA setting: jose verifies with the Ed25519 JWK', async () => {
  const eddsa = new Tokend(['--signing-algorithm', 'EdDSA']);
  try {
    await eddsa.start();
    const c = await eddsa.createClient({ name: 'eddsa' });
    const iss = new URL(eddsa.issuer);
    const meta = await oauth.processDiscoveryResponse(iss,
      await oauth.discoveryRequest(iss, { algorithm: 'oauth2', ...withTimeout() }));
    const client = { client_id: c.client_id };
    const token = await oauth.processClientCredentialsResponse(meta, client,
      await oauth.clientCredentialsGrantRequest(meta, client, oauth.ClientSecretBasic(c.client_secret), {}, withTimeout()));
    const jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri), { timeoutDuration: 10000 });
    const { protectedHeader, payload } = await jose.jwtVerify(token.access_token, jwks,
      { issuer: eddsa.issuer, audience: eddsa.issuer, typ: 'at+jwt', algorithms: ['EdDSA', 'Ed25519'] });
    assert.ok(['EdDSA', 'Ed25519'].includes(protectedHeader.alg), protectedHeader.alg);
    assert.equal(payload.client_id, c.client_id);
    await assert.rejects(jose.jwtVerify(token.access_token, jwks,
      { issuer: eddsa.issuer, audience: eddsa.issuer, algorithms: ['ES256'] }), jose.errors.JOSEAlgNotAllowed);
  } finally {
    assert.equal(await eddsa.stop(), 0);
    eddsa.cleanup();
  }
});
