/**
 * Units of the SSH tunnel: backoff delays, host key fingerprints (checked against ssh-keygen),
 * the host key verdict, and the tunnel's behaviour before any SSH server is involved (no
 * credentials; backoff bounding the attempts against a port where nothing listens).
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import sinon from 'sinon';
import ssh2 from 'ssh2';
import type { SshConfig } from '../../lib/config.js';
import { backoffDelay, DEFAULT_BACKOFF } from '../../lib/connection/ssh/ssh-backoff.js';
import { sshFingerprint, verifyHostKey } from '../../lib/connection/ssh/ssh-host-key.js';
import { SshTunnel } from '../../lib/connection/ssh/ssh-tunnel.js';
import { TunnelError } from '../../lib/errors.js';
import { silentLogger } from '../../lib/logger.js';
import { freePort } from '../support/free-port.js';
import { fingerprintOf } from '../support/ssh-server.js';

const run = promisify(execFile);

function sshConfig(overrides: Partial<SshConfig> = {}): SshConfig {
  return {
    host: '127.0.0.1',
    port: 22,
    user: 'tunnel',
    acceptUnknownHostKey: false,
    keepaliveIntervalMs: 5_000,
    keepaliveCountMax: 3,
    readyTimeoutMs: 2_000,
    execNoDelay: true,
    ...overrides,
  };
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`rejected with a non-Error: ${String(error)}`, { cause: error });
  }
  throw new Error('expected a rejection, but it resolved');
}

describe('SshTunnel units', () => {
  let sandbox: sinon.SinonSandbox;

  beforeEach(() => {
    sandbox = sinon.createSandbox();
  });

  afterEach(() => {
    sandbox.restore();
  });

  describe('backoffDelay', () => {
    const options = { initialMs: 100, maxMs: 3_000 };

    it('doubles from initialMs, jittered between half and all of it', () => {
      for (const [attempt, ceiling] of [
        [0, 100],
        [1, 200],
        [2, 400],
        [3, 800],
      ] as const) {
        expect(backoffDelay(attempt, options, () => 0)).to.equal(ceiling / 2);
        expect(backoffDelay(attempt, options, () => 0.999999)).to.equal(ceiling);
        expect(backoffDelay(attempt, options, () => 0.5)).to.equal((ceiling * 3) / 4);
      }
    });

    it('never exceeds maxMs, however many attempts failed', () => {
      for (const attempt of [5, 6, 10, 100, 10_000]) {
        expect(backoffDelay(attempt, options, () => 0.999999)).to.be.at.most(options.maxMs);
        expect(backoffDelay(attempt, options, () => 0)).to.equal(options.maxMs / 2);
      }
    });

    it('has defaults that keep a reconnect quick and the wait bounded', () => {
      expect(DEFAULT_BACKOFF.initialMs).to.be.at.most(200);
      expect(DEFAULT_BACKOFF.maxMs).to.be.at.most(5_000);
    });
  });

  describe('host keys', () => {
    let dir: string;

    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'kr-hostkey-'));
    });

    after(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    for (const type of ['ed25519', 'ecdsa', 'rsa']) {
      it(`sshFingerprint of a ${type} key equals what ssh-keygen -lf prints`, async () => {
        const path = join(dir, `key_${type}`);
        await run('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', path]);
        const blob = Buffer.from(readFileSync(`${path}.pub`, 'utf8').split(' ')[1] ?? '', 'base64');
        expect(sshFingerprint(blob)).to.equal(await fingerprintOf(`${path}.pub`));
      });
    }

    it('verifyHostKey accepts a match, refuses a mismatch naming both, and an unpinned key unless told to', () => {
      const key = Buffer.from('a host key blob');
      const received = sshFingerprint(key);
      const other = `SHA256:${'B'.repeat(43)}`;
      expect(verifyHostKey(key, received, false)).to.deep.equal({ accepted: true, received, pinned: true });
      expect(verifyHostKey(key, other, true)).to.deep.equal({ accepted: false, received, expected: other });
      expect(verifyHostKey(key, undefined, false)).to.deep.equal({ accepted: false, received, expected: undefined });
      expect(verifyHostKey(key, undefined, true)).to.deep.equal({ accepted: true, received, pinned: false });
    });
  });

  describe('SshTunnel', () => {
    it('has no side effects when constructed', () => {
      const createClient = sandbox.spy(() => new ssh2.Client());
      const tunnel = new SshTunnel(sshConfig(), { logger: silentLogger, createClient });
      tunnel.streamFactory({ host: 'db', port: 5432 });
      expect(createClient.called).to.equal(false);
      expect(tunnel.status()).to.deep.equal({
        state: 'idle',
        reconnects: 0,
        openChannels: 0,
        lastError: undefined,
        hostFingerprint: undefined,
        channelsOpened: 0,
        handshakes: 0,
      });
    });

    it('without credentials fails with a TunnelError naming the variables, before connecting', async () => {
      const createClient = sandbox.spy(() => new ssh2.Client());
      const tunnel = new SshTunnel(sshConfig(), { logger: silentLogger, createClient });
      const client = new pg.Client({
        host: 'db',
        port: 5432,
        stream: tunnel.streamFactory({ host: 'db', port: 5432 }),
      });
      const error = await rejectionOf(client.connect());
      expect(error).to.be.instanceOf(TunnelError);
      expect(error.message).to.include('DB_SSH_PRIVATE_KEY_PATH').and.to.include('DB_SSH_PASSWORD');
      expect(createClient.called).to.equal(false);
      await tunnel.close();
    });

    it('a key that is not a key fails with a TunnelError that does not quote it', async () => {
      const config = sshConfig();
      Object.defineProperty(config, 'privateKey', { value: 'not-a-key-but-secret-text', enumerable: false });
      const tunnel = new SshTunnel(config, { logger: silentLogger });
      const client = new pg.Client({
        host: 'db',
        port: 5432,
        stream: tunnel.streamFactory({ host: 'db', port: 5432 }),
      });
      const error = await rejectionOf(client.connect());
      expect(error).to.be.instanceOf(TunnelError);
      expect(error.message).to.include('DB_SSH_PRIVATE_KEY').and.not.to.include('secret-text');
      await tunnel.close();
    });

    it('backoff bounds handshake attempts against a server that is down, and concurrent requests share one', async function () {
      this.timeout(10_000);
      const port = await freePort();
      const config = sshConfig({ port, password: undefined });
      Object.defineProperty(config, 'password', { value: 'a-password', enumerable: false });
      const createClient = sandbox.spy(() => new ssh2.Client());
      const tunnel = new SshTunnel(config, {
        logger: silentLogger,
        createClient,
        backoff: { initialMs: 100, maxMs: 400 },
      });
      const factory = tunnel.streamFactory({ host: 'db', port: 5432 });
      let requests = 0;
      const deadline = Date.now() + 1_000;
      // eight callers that retry at once on every failure, for a second
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (Date.now() < deadline) {
            requests += 1;
            const error = await rejectionOf(new pg.Client({ host: 'db', port: 5432, stream: factory }).connect());
            expect(error).to.be.instanceOf(TunnelError);
            expect((error as TunnelError).code).to.equal('ECONNREFUSED');
          }
        }),
      );
      // attempts at 0, then after at least 50, 100, 200, 200, 200 … ms: at most 7 in a second
      expect(requests).to.be.greaterThan(8 * 3);
      expect(createClient.callCount).to.be.within(2, 7);
      expect(tunnel.status().handshakes).to.equal(createClient.callCount);
      expect(tunnel.status().state).to.equal('reconnecting');
      await tunnel.close();
    });
  });
});
