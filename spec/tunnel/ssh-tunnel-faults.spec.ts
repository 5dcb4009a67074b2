/**
 * The SSH tunnel when things break. A real OpenSSH sshd killed mid-load and started again, and
 * one frozen with SIGSTOP (only the keepalive ends that stall); ssh2's in-process Server for what
 * sshd cannot do on demand: refuse a channel, open one late, drop the connection, refuse a
 * session, take a password. Every byte still goes to the run's real PostgreSQL.
 */
import { expect } from 'chai';
import { connect as netConnect } from 'node:net';
import pg from 'pg';
import sinon from 'sinon';
import ssh2 from 'ssh2';
import type { Connection, ServerChannel, TcpipRequestInfo } from 'ssh2';
import { loadConfig, type DatabaseConfig } from '../../lib/config.js';
import { sshFingerprint } from '../../lib/connection/ssh/ssh-host-key.js';
import { SshTunnel } from '../../lib/connection/ssh/ssh-tunnel.js';
import { ConnectionError, TunnelError } from '../../lib/errors.js';
import { freePort } from '../support/free-port.js';
import { ed25519KeyPair } from '../support/ssh-key-pair.js';
import { poolThroughTunnel, sshEnv, startSshServerOrSkip, type SshServer } from '../support/ssh-server.js';
import { testDatabaseUrl } from '../support/test-server.js';
import { rejection, spyLogger, type SpyLogger } from '../support/spec-helpers.js';

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('SshTunnel faults', function () {
  let sandbox: sinon.SinonSandbox;
  let logger: SpyLogger;
  const cleanups: (() => Promise<void>)[] = [];

  beforeEach(() => {
    sandbox = sinon.createSandbox();
    logger = spyLogger(sandbox);
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    sandbox.restore();
  });

  function track(tunnel: SshTunnel, pool: pg.Pool): void {
    cleanups.push(async () => {
      await pool.end().catch(() => undefined);
      await tunnel.close();
    });
  }

  describe('a real sshd', () => {
    let server: SshServer;

    before(async function () {
      server = await startSshServerOrSkip(this, 'the sshd fault specs');
    });

    after(async () => {
      await server?.destroy();
    });

    it('killed mid-load and started again: in-flight queries fail fast, later ones succeed, nothing reported as written is missing', async function () {
      this.timeout(60_000);
      const readyTimeoutMs = 2_000;
      const config = loadConfig(
        sshEnv(server, testDatabaseUrl(), {
          DB_SSH_READY_TIMEOUT_MS: String(readyTimeoutMs),
          DB_SSH_KEEPALIVE_MS: '1000',
        }),
      );
      if (!config.ssh) throw new Error('no ssh config');
      const admin = new pg.Client({ connectionString: testDatabaseUrl() });
      await admin.connect();
      cleanups.push(() => admin.end());
      await admin.query('create table tunnel_kill_load (id int primary key, worker int not null)');

      const backoff = { initialMs: 100, maxMs: 1_000 };
      const tunnel = new SshTunnel(config.ssh, { logger, backoff });
      const pool = poolThroughTunnel(config, tunnel, { connectionTimeoutMillis: 10_000 });
      const idleErrors: Error[] = [];
      pool.on('error', (error) => idleErrors.push(error));
      track(tunnel, pool);

      const succeeded: number[] = [];
      const failures: { error: unknown; ms: number }[] = [];
      let next = 0;
      let stop = false;
      let phase: 'before' | 'down' | 'after' = 'before';
      let successesAfter = 0;
      const worker = async (w: number): Promise<void> => {
        while (!stop) {
          const id = ++next;
          const started = performance.now();
          try {
            await pool.query('insert into tunnel_kill_load (id, worker) values ($1, $2)', [id, w]);
            succeeded.push(id);
            if (phase === 'after') successesAfter += 1;
          } catch (error) {
            failures.push({ error, ms: performance.now() - started });
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      };
      const mark = server.mark();
      const workers = Array.from({ length: 32 }, (_, w) => worker(w));

      await waitUntil(() => succeeded.length >= 300, 20_000, '300 inserts before the kill');
      const servingBefore = server.servingPids();
      expect(servingBefore.length).to.be.greaterThan(0);
      phase = 'down';
      await server.kill();
      await waitUntil(() => failures.length >= 1, 10_000, 'in-flight queries to fail');
      await new Promise((resolve) => setTimeout(resolve, 300));
      await server.start();
      phase = 'after';
      await waitUntil(() => successesAfter >= 300, 30_000, '300 inserts after sshd came back');
      stop = true;
      await Promise.all(workers);

      // later queries succeed over one new SSH connection
      expect(tunnel.status()).to.deep.include({ state: 'ready', reconnects: 1 });
      const log = server.logSince(mark);
      expect(log.match(/Accepted publickey for /g)?.length).to.equal(2);

      // what failed, failed as a ConnectionError (TunnelError is one), within a bound: never a hang
      expect(failures.length).to.be.greaterThan(0);
      const bound = readyTimeoutMs + backoff.maxMs + 1_000;
      for (const { error, ms } of failures) {
        expect(error, String(error)).to.be.instanceOf(ConnectionError);
        expect(ms).to.be.below(bound);
      }
      expect(failures.some(({ error }) => error instanceof TunnelError && /was lost/.test(error.message))).to.equal(
        true,
      );

      // every insert that reported success is there
      const { rows } = await admin.query<{ id: number }>('select id from tunnel_kill_load');
      const stored = new Set(rows.map((r) => r.id));
      expect(succeeded.filter((id) => !stored.has(id))).to.deep.equal([]);
      expect(logger.warn.calledWithMatch('SSH connection lost')).to.equal(true);
    });

    it('frozen (SIGSTOP): the keepalive fails the stalled query within its bound, and the next query reconnects', async function () {
      this.timeout(30_000);
      const keepaliveMs = 200;
      const keepaliveCount = 2;
      const config = loadConfig(
        sshEnv(server, testDatabaseUrl(), {
          DB_SSH_KEEPALIVE_MS: String(keepaliveMs),
          DB_SSH_KEEPALIVE_COUNT: String(keepaliveCount),
        }),
      );
      if (!config.ssh) throw new Error('no ssh config');
      const tunnel = new SshTunnel(config.ssh, { logger, backoff: { initialMs: 50, maxMs: 200 } });
      const pool = poolThroughTunnel(config, tunnel, { max: 2 });
      pool.on('error', () => undefined);
      track(tunnel, pool);
      await pool.query('select 1');

      const frozen = server.signalConnections('SIGSTOP');
      cleanups.push(() => {
        for (const pid of frozen) {
          try {
            process.kill(pid, 'SIGCONT'); // it finds its client gone and exits
          } catch {
            // gone
          }
        }
        return Promise.resolve();
      });
      expect(frozen.length).to.be.greaterThan(0);
      const started = performance.now();
      const error = await rejection(pool.query('select 1'));
      const elapsed = performance.now() - started;
      expect(error).to.be.instanceOf(TunnelError);
      expect(error.message).to.include(`no answer to ${keepaliveCount} keepalives sent every ${keepaliveMs} ms`);
      expect(elapsed).to.be.below(keepaliveMs * (keepaliveCount + 2) + 1_000);

      const { rows } = await pool.query<{ one: number }>('select 1 as one');
      expect(rows[0]?.one).to.equal(1);
      expect(tunnel.status().reconnects).to.equal(1);
    });
  });

  describe("ssh2's in-process server", () => {
    const hostKey = ed25519KeyPair();
    const clientKey = ed25519KeyPair();
    const password = 'correct-horse-battery';
    let port: number;
    let sshServer: ssh2.Server;
    let connections: Connection[];
    let authMethods: string[];
    let sessions: number;
    let onTcpip: (accept: () => ServerChannel, reject: () => void, info: TcpipRequestInfo) => void;
    let refuseSessions: boolean;

    const forward = (accept: () => ServerChannel, _reject: () => void, info: TcpipRequestInfo): void => {
      const channel = accept();
      const socket = netConnect(info.destPort, info.destIP);
      socket.on('error', () => channel.close());
      channel.on('error', () => socket.destroy());
      channel.on('close', () => socket.destroy());
      socket.on('close', () => channel.close());
      channel.pipe(socket).pipe(channel);
    };

    function hostFingerprint(): string {
      const parsed = ssh2.utils.parseKey(hostKey.public);
      if (parsed instanceof Error) throw parsed;
      return sshFingerprint(parsed.getPublicSSH());
    }

    function configFor(overrides: Record<string, string> = {}): DatabaseConfig {
      return loadConfig({
        DATABASE_URL: testDatabaseUrl(),
        DB_SSH_HOST: '127.0.0.1',
        DB_SSH_PORT: String(port),
        DB_SSH_USER: 'tunnel',
        DB_SSH_PRIVATE_KEY: clientKey.private,
        DB_SSH_PASSWORD: password,
        DB_SSH_AGENT: 'false',
        DB_SSH_HOST_FINGERPRINT: hostFingerprint(),
        DB_SSH_READY_TIMEOUT_MS: '3000',
        ...overrides,
      });
    }

    function tunnelled(config: DatabaseConfig, options: pg.PoolConfig = {}): { tunnel: SshTunnel; pool: pg.Pool } {
      if (!config.ssh) throw new Error('no ssh config');
      const tunnel = new SshTunnel(config.ssh, { logger, backoff: { initialMs: 20, maxMs: 100 } });
      const pool = poolThroughTunnel(config, tunnel, options);
      pool.on('error', () => undefined);
      track(tunnel, pool);
      return { tunnel, pool };
    }

    /** An SSH server with `key` as its host key on `listenPort`, forwarding with `onTcpip`. */
    async function startServer(key: string, listenPort: number): Promise<ssh2.Server> {
      const started = new ssh2.Server({ hostKeys: [key] }, (client) => {
        connections.push(client);
        client.on('error', () => undefined);
        client.on('authentication', (ctx) => {
          authMethods.push(ctx.method);
          if (ctx.method === 'password' && ctx.password === password) ctx.accept();
          else ctx.reject(['publickey', 'password']);
        });
        client.on('ready', () => {
          client.on('tcpip', (accept, reject, info) => onTcpip(accept, reject, info));
          client.on('session', (accept, reject) => {
            sessions += 1;
            if (refuseSessions) {
              reject();
              return;
            }
            const session = accept();
            session.on('exec', (acceptExec) => {
              const channel = acceptExec();
              channel.exit(0);
              channel.end();
            });
          });
        });
      });
      await new Promise<void>((resolve) => started.listen(listenPort, '127.0.0.1', resolve));
      return started;
    }

    before(async () => {
      port = await freePort();
      sshServer = await startServer(hostKey.private, port);
    });

    beforeEach(() => {
      connections = [];
      authMethods = [];
      sessions = 0;
      refuseSessions = false;
      onTcpip = forward;
    });

    after(async () => {
      await new Promise((resolve) => sshServer.close(resolve));
    });

    it('offers the key before the password, and never logs the password', async () => {
      const { pool } = tunnelled(configFor());
      const { rows } = await pool.query<{ one: number }>('select 1 as one');
      expect(rows[0]?.one).to.equal(1);
      expect(authMethods).to.deep.equal(['publickey', 'password']);
      const logged = JSON.stringify(
        Object.values(logger).flatMap((spy) => spy.getCalls().map((c): unknown[] => c.args as unknown[])),
      );
      expect(logged).not.to.include(password);
      expect(logged).not.to.include('PRIVATE KEY');
    });

    it('a refused channel fails that connection with a TunnelError; the SSH connection stays up', async () => {
      let refused = 0;
      onTcpip = (accept, reject, info) => {
        if (refused === 0) {
          refused += 1;
          reject();
        } else {
          forward(accept, reject, info);
        }
      };
      const { tunnel, pool } = tunnelled(configFor());
      const error = await rejection(pool.query('select 1'));
      expect(error).to.be.instanceOf(TunnelError);
      expect(error.message).to.match(/refused a channel to .*:\d+/);
      expect(error.cause).to.be.instanceOf(Error);
      expect(tunnel.status().state).to.equal('ready');

      await pool.query('select 1');
      expect(connections).to.have.length(1);
      expect(tunnel.status()).to.deep.include({ state: 'ready', handshakes: 1, channelsOpened: 1 });
    });

    it("closes a channel that arrives after pg's connection timeout", async () => {
      let serverChannel: ServerChannel | undefined;
      let closed = false;
      let requests = 0;
      onTcpip = (accept, reject, info) => {
        requests += 1;
        if (requests === 1) {
          forward(accept, reject, info);
          return;
        }
        setTimeout(() => {
          serverChannel = accept();
          serverChannel.on('error', () => undefined);
          serverChannel.on('close', () => {
            closed = true;
          });
          serverChannel.resume();
        }, 300);
      };
      const config = configFor();
      const { tunnel, pool } = tunnelled(config, { connectionTimeoutMillis: 100 });
      // the SSH connection is up (a first channel, without a timeout), so the next channel is what is late
      const warm = poolThroughTunnel(config, tunnel, { max: 1 });
      cleanups.push(() => warm.end());
      await warm.query('select 1');

      const error = await rejection(pool.query('select 1'));
      expect(error.message).to.match(/timeout/i);
      await waitUntil(() => closed, 5_000, 'the late channel to be closed');
      expect(serverChannel).not.to.equal(undefined);
      expect(tunnel.status()).to.deep.include({ openChannels: 1, channelsOpened: 2 });
    });

    it('a dropped SSH connection fails idle pooled connections as pool errors, and concurrent reconnects collapse into one', async () => {
      const { tunnel, pool } = tunnelled(configFor());
      const idleErrors: Error[] = [];
      pool.on('error', (error) => idleErrors.push(error));
      const clients = await Promise.all(Array.from({ length: 10 }, () => pool.connect()));
      for (const client of clients) client.release();
      expect(tunnel.status().openChannels).to.equal(10);

      connections[0]?.end();
      await waitUntil(() => idleErrors.length === 10, 5_000, 'ten idle connections to fail');
      expect(idleErrors.every((e) => e instanceof TunnelError && /was lost/.test(e.message))).to.equal(true);
      expect(tunnel.status().state).to.equal('reconnecting');

      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => pool.query('select $1::int as i', [i])));
      expect(results).to.have.length(10);
      expect(connections).to.have.length(2);
      expect(tunnel.status()).to.deep.include({ state: 'ready', reconnects: 1, handshakes: 2 });
    });

    it('pins the first host key it accepted without a fingerprint: a different key after a reconnect is refused', async () => {
      const ownPort = await freePort();
      const original = await startServer(hostKey.private, ownPort);
      const config = configFor({
        DB_SSH_PORT: String(ownPort),
        DB_SSH_HOST_FINGERPRINT: '',
        DB_SSH_ACCEPT_UNKNOWN_HOST_KEY: 'true',
      });
      const { tunnel, pool } = tunnelled(config, { max: 1 });
      const idleErrors: Error[] = [];
      pool.on('error', (error) => idleErrors.push(error));
      await pool.query('select 1');
      expect(tunnel.status().hostFingerprint).to.equal(hostFingerprint());
      const offered = authMethods.length;

      // the server is replaced by one with another host key, on the same address
      await new Promise((resolve) => {
        original.close(resolve);
        for (const connection of connections) connection.end();
      });
      const impostorKey = ed25519KeyPair();
      const impostor = await startServer(impostorKey.private, ownPort);
      cleanups.push(() => new Promise((resolve) => impostor.close(() => resolve())));
      // the pooled connection fails one turn after the drop: until then a query would take it and
      // fail with "was lost", which is not what this spec is about
      await waitUntil(
        () => tunnel.status().state === 'reconnecting' && idleErrors.length === 1,
        5_000,
        'the tunnel to see the drop and the pool to discard its connection',
      );

      const error = await rejection(pool.query('select 1'));
      expect(error).to.be.instanceOf(TunnelError);
      expect(error.message).to.include('changed since this tunnel first connected');
      expect(error.message).to.include(hostFingerprint());
      expect(authMethods.length, 'no credentials were offered to the impostor').to.equal(offered);
      expect(connections.length, 'the impostor was reached').to.equal(2);
    });

    it('runs `true` once per SSH connection for TCP_NODELAY on the server, and goes on when sessions are refused', async () => {
      refuseSessions = true;
      const { pool } = tunnelled(configFor());
      await pool.query('select 1');
      expect(sessions).to.equal(1);
      expect(logger.warn.calledWithMatch('refused a session')).to.equal(true);
    });

    it('opens no session when DB_SSH_EXEC_NODELAY=false', async () => {
      const { pool } = tunnelled(configFor({ DB_SSH_EXEC_NODELAY: 'false' }));
      await pool.query('select 1');
      expect(sessions).to.equal(0);
    });
  });
});
