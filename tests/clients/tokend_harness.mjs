// The Node twin of tests/support/tokend_harness.py: starts the real
// tokend on a loopback port with a fresh SQLite store in a temporary
// folder, runs the real tokenctl against the same store, and stops both.

import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const TOKEND = process.env.TOKEND_BIN ?? 'build/tokend';
export const TOKENCTL = process.env.TOKENCTL_BIN ?? 'build/tokenctl';

const live = new Set();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function basic(id, secret) {
  // RFC 6749 §2.3.1: form-encode both parts, then base64.
  const encode = (s) => encodeURIComponent(s).replace(/%20/g, '+');
  return 'Basic ' + Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64');
}

export class Tokend {
  constructor(extraArgs = []) {
    this.extraArgs = extraArgs;
    this.folder = mkdtempSync(join(tmpdir(), 'tokend-node-'));
    this.db = join(this.folder, 't.db');
    this.child = null;
    this.port = null;
    this.log = '';
  }

  get issuer() {
    return `http://127.0.0.1:${this.port}`;
  }

  url(path) {
    return this.issuer + path;
  }

  // The port is chosen here and given to --listen and --issuer, so the
  // issuer names the real port; a port taken in between is retried.
  async start(timeoutMs = 10000) {
    let lastError;
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort();
      try {
        await this.#startOn(port, timeoutMs);
        return this;
      } catch (error) {
        lastError = error;
        await this.stop();
      }
    }
    throw lastError;
  }

  #startOn(port, timeoutMs) {
    const args = ['--listen', `127.0.0.1:${port}`, '--issuer', `http://127.0.0.1:${port}`,
      '--db', this.db, ...this.extraArgs];
    this.log = '';
    const child = spawn(TOKEND, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(child);
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tokend did not start:\n${this.log}`)), timeoutMs);
      const onData = (chunk) => {
        this.log += chunk.toString();
        const match = /msg="tokend started".* port=(\d+)/.exec(this.log);
        if (match && this.port === null) {
          this.port = Number(match[1]);
          clearTimeout(timer);
          if (this.port !== port) reject(new Error(`tokend listens on ${this.port}, not ${port}`));
          else resolve();
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('error', (error) => { clearTimeout(timer); reject(error); });
      this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        if (this.port === null) reject(new Error(`tokend exited (${code ?? signal}):\n${this.log}`));
      });
    });
  }

  // SIGTERM, then SIGKILL after a grace period. Resolves to the exit code.
  async stop(timeoutMs = 15000) {
    const child = this.child;
    if (child === null) return null;
    this.child = null;
    this.port = null;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    let timer;
    const killed = new Promise((resolve) => {
      timer = setTimeout(() => { child.kill('SIGKILL'); resolve(); }, timeoutMs);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    const { code } = await this.exited;
    return code;
  }

  cleanup() {
    rmSync(this.folder, { recursive: true, force: true });
  }

  async tokenctl(...args) {
    const { stdout } = await run(TOKENCTL, ['--db', this.db, ...args], { timeout: 30000 });
    return stdout;
  }

  async createClient({ name = 'node client', scope, permission, subject } = {}) {
    const args = ['client', 'create', '--name', name, '--json'];
    if (scope !== undefined) args.push('--scope', scope);
    if (permission !== undefined) args.push('--permission', permission);
    if (subject !== undefined) args.push('--subject', subject);
    const client = JSON.parse(await this.tokenctl(...args));
    await this.waitForClient(client);
    return client;
  }

  // tokend learns of a new client at its next poll of the store.
  async waitForClient(client, timeoutMs = 3000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const answer = await fetch(this.url('/v2/auth/token'), {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: basic(client.client_id, client.client_secret),
        },
        body: 'grant_type=client_credentials',
        signal: AbortSignal.timeout(5000),
      });
      await answer.arrayBuffer();
      if (answer.status === 200) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('tokend never saw the new client');
  }
}
