/**
 * The SSH tunnel against a real OpenSSH sshd and the run's real PostgreSQL: every pooled pg
 * connection is a direct-tcpip channel of one SSH connection; host key, credentials, an sshd that
 * is not there, a handshake that stalls, close().
 */
import { expect } from 'chai';
import { createServer, type Server, type Socket } from 'node:net';
import pg from 'pg';
import sinon from 'sinon';
import ssh2 from 'ssh2';
import type { Client } from 'ssh2';
import { loadConfig, type DatabaseConfig, type SshConfig } from '../../lib/config.js';
import { SshTunnel } from '../../lib/connection/ssh/ssh-tunnel.js';
import { ConfigError, ConnectionError, TunnelError } from '../../lib/errors.js';
import { freePort } from '../support/free-port.js';
import {
  poolThroughTunnel,
  sshEnv,
  startSshServerOrSkip,
  tcpLocalPorts,
  type SshAgent,
  type SshServer,
} from '../support/ssh-server.js';
import { testDatabaseUrl } from '../support/test-server.js';
import { rejection, spyLogger, type SpyLogger } from '../support/spec-helpers.js';

const ACCEPTED = /Accepted publickey for /g;
const AUTH_ATTEMPT = /userauth-request for user|Accepted publickey|Failed publickey|Postponed publickey/;
const CONNECTION_END = /Connection closed by|Received disconnect from|Disconnected from|Connection reset by/;

function count(text: string, pattern: RegExp): number {
  return text.match(new RegExp(pattern.source, 'g'))?.length ?? 0;
}

describe('SshTunnel through a real OpenSSH sshd', function () {
  let server: SshServer;
  let sandbox: sinon.SinonSandbox;
  let logger: SpyLogger;
  const open: { tunnel: SshTunnel; pool: pg.Pool }[] = [];

  before(async function () {
    server = await startSshServerOrSkip(this, 'the SSH tunnel specs');
  });

  after(async () => {
    await server?.destroy();
  });

  beforeEach(() => {
    sandbox = sinon.createSandbox();
    logger = spyLogger(sandbox);
  });

  afterEach(async () => {
    for (const { tunnel, pool } of open.splice(0)) {
      await pool.end().catch(() => undefined);
      await tunnel.close();
    }
    sandbox.restore();
  });

  function configFor(overrides: Record<string, string> = {}): DatabaseConfig {
    return loadConfig(sshEnv(server, testDatabaseUrl(), overrides));
  }

  function sshOf(config: DatabaseConfig): SshConfig {
    if (!config.ssh) throw new Error('the config has no ssh section');
    return config.ssh;
  }

  /** A tunnel and a plain pg.Pool whose `stream` is the tunnel's factory, as createDatabase builds them. */
  function tunnelled(
    config: DatabaseConfig,
    poolOptions: pg.PoolConfig = {},
    tunnelOptions: { createClient?: () => Client } = {},
  ): { tunnel: SshTunnel; pool: pg.Pool } {
    const tunnel = new SshTunnel(sshOf(config), { logger, ...tunnelOptions });
    const pool = poolThroughTunnel(config, tunnel, poolOptions);
    pool.on('error', () => undefined); // idle clients whose SSH connection dropped
    open.push({ tunnel, pool });
    return { tunnel, pool };
  }

  function loggedText(): string {
    const calls = Object.values(logger).flatMap((spy) => spy.getCalls().map((call) => call.args as unknown[]));
    return JSON.stringify(calls);
  }

  describe('carrying connections', () => {
    it('opens nothing until the pool asks for its first connection', async () => {
      const mark = server.mark();
      const createClient = sandbox.spy(() => new ssh2.Client());
      const { tunnel } = tunnelled(configFor(), {}, { createClient });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(createClient.called).to.equal(false);
      expect(server.logSince(mark)).not.to.include('Connection from');
      expect(tunnel.status()).to.deep.include({ state: 'idle', openChannels: 0, handshakes: 0 });
    });

    it('carries each pooled connection as one direct-tcpip channel of one SSH connection (sshd log, pg_stat_activity)', async () => {
      const config = configFor();
      const target = config.connection;
      if (!target) throw new Error('no target');
      const applicationName = `tunnel_proof_${process.pid}`;
      const mark = server.mark();
      const createClient = sandbox.spy(() => new ssh2.Client());
      const { tunnel, pool } = tunnelled(config, { application_name: applicationName }, { createClient });

      // ten concurrent first connections: one handshake, ten channels
      const clients = await Promise.all(Array.from({ length: 10 }, () => pool.connect()));
      try {
        const pids = await Promise.all(
          clients.map(async (c) => (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid),
        );
        expect(new Set(pids).size).to.equal(10);

        const log = server.logSince(mark);
        expect(count(log, /Connection from 127\.0\.0\.1 port/)).to.equal(1);
        expect(count(log, ACCEPTED)).to.equal(1);
        const forwarded = new RegExp(
          `server_request_direct_tcpip: originator [^,]+, target ${target.host.replace(/\./g, '\\.')} port ${target.port}`,
        );
        expect(count(log, forwarded)).to.equal(10);
        expect(createClient.callCount).to.equal(1);

        // PostgreSQL sees the ten connections coming from sockets that sshd's serving process
        // holds, and none from this process
        const admin = new pg.Client({ connectionString: testDatabaseUrl() });
        await admin.connect();
        let ports: number[];
        try {
          const { rows } = await admin.query<{ client_port: number }>(
            'select client_port from pg_stat_activity where application_name = $1',
            [applicationName],
          );
          ports = rows.map((r) => r.client_port);
        } finally {
          await admin.end();
        }
        expect(ports).to.have.length(10);
        const sshdPorts = new Set(tcpLocalPorts(server.servingPids(), target.port));
        const ourPorts = new Set(tcpLocalPorts([process.pid], target.port));
        expect(ports.filter((p) => sshdPorts.has(p))).to.have.length(10);
        expect(ports.filter((p) => ourPorts.has(p))).to.have.length(0);

        expect(tunnel.status()).to.deep.include({
          state: 'ready',
          openChannels: 10,
          channelsOpened: 10,
          handshakes: 1,
          reconnects: 0,
          lastError: undefined,
          hostFingerprint: server.hostFingerprint,
        });
      } finally {
        for (const c of clients) c.release();
      }
    });

    it('serves 50 concurrent queries with a pool of 10 over one SSH connection', async () => {
      const mark = server.mark();
      const { tunnel, pool } = tunnelled(configFor());
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          pool.query<{ n: number; payload: string }>('select $1::int as n, repeat($2, 1000) as payload', [i, 'x']),
        ),
      );
      expect(results.map((r) => r.rows[0]?.n)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i));
      expect(results.every((r) => r.rows[0]?.payload.length === 1000)).to.equal(true);
      const status = tunnel.status();
      expect(status.channelsOpened).to.be.within(1, 10);
      expect(status.handshakes).to.equal(1);
      expect(count(server.logSince(mark), ACCEPTED)).to.equal(1);
    });

    it('carries a 2 MB result and a 2 MB parameter intact (flow control both ways)', async () => {
      const { pool } = tunnelled(configFor(), { max: 2 });
      const big = 'abcdefghij'.repeat(200_000);
      const [echo, generated] = await Promise.all([
        pool.query<{ s: string }>('select $1::text as s', [big]),
        pool.query<{ s: string }>("select string_agg(md5(g::text), '') as s from generate_series(1, 65536) g"),
      ]);
      expect(echo.rows[0]?.s).to.equal(big);
      expect(generated.rows[0]?.s).to.have.length(32 * 65536);
    });

    it('reaches a Unix-socket host through direct-streamlocal', async () => {
      const config = configFor();
      const target = config.connection;
      if (!target) throw new Error('no target');
      const admin = new pg.Client({ connectionString: testDatabaseUrl() });
      await admin.connect();
      const { rows } = await admin.query<{ dir: string }>('select current_setting($1) as dir', [
        'unix_socket_directories',
      ]);
      await admin.end();
      const dir = rows[0]?.dir.split(',')[0]?.trim();
      expect(dir, 'the server has a Unix socket directory').to.match(/^\//);

      const mark = server.mark();
      const tunnel = new SshTunnel(sshOf(config), { logger });
      const pool = new pg.Pool({
        host: dir,
        port: target.port,
        database: target.database,
        user: target.user,
        max: 1,
        stream: tunnel.streamFactory({ host: dir ?? '', port: target.port }),
      });
      open.push({ tunnel, pool });
      const result = await pool.query<{ port: number | null }>(
        'select client_port as port from pg_stat_activity where pid = pg_backend_pid()',
      );
      expect(result.rows[0]?.port, 'a Unix-socket connection has client_port -1').to.equal(-1);
      expect(server.logSince(mark)).to.match(/direct-streamlocal/);
    });
  });

  describe('host key', () => {
    it('refuses a host whose key does not match DB_SSH_HOST_FINGERPRINT, naming both, before any authentication', async () => {
      const expected = `SHA256:${'A'.repeat(43)}`;
      const mark = server.mark();
      const { tunnel, pool } = tunnelled(configFor({ DB_SSH_HOST_FINGERPRINT: expected }));
      const error = await rejection(pool.query('select 1'));
      expect(error).to.be.instanceOf(TunnelError);
      expect(error.message).to.include(expected).and.to.include(server.hostFingerprint);
      expect(error.cause).to.be.instanceOf(Error);
      const log = await server.waitForLog(CONNECTION_END, mark);
      expect(log).to.include('Connection from 127.0.0.1');
      expect(log).not.to.match(AUTH_ATTEMPT);
      expect(tunnel.status()).to.deep.include({ state: 'reconnecting', lastError: error.message });
    });

    it('refuses an unpinned host key unless DB_SSH_ACCEPT_UNKNOWN_HOST_KEY=true, and says what to pin', async () => {
      const mark = server.mark();
      const { pool } = tunnelled(configFor({ DB_SSH_HOST_FINGERPRINT: '' }));
      const error = await rejection(pool.query('select 1'));
      expect(error).to.be.instanceOf(TunnelError);
      expect(error.message).to.include(`DB_SSH_HOST_FINGERPRINT=${server.hostFingerprint}`);
      const log = await server.waitForLog(CONNECTION_END, mark);
      expect(log).not.to.match(AUTH_ATTEMPT);
    });

    it('accepts an unpinned host key when told to, warning with the fingerprint to pin', async () => {
      const { tunnel, pool } = tunnelled(
        configFor({ DB_SSH_HOST_FINGERPRINT: '', DB_SSH_ACCEPT_UNKNOWN_HOST_KEY: 'true' }),
      );
      const { rows } = await pool.query<{ one: number }>('select 1 as one');
      expect(rows[0]?.one).to.equal(1);
      const warning = logger.warn.getCalls().find((call) => String(call.args[0]).includes('DB_SSH_HOST_FINGERPRINT'));
      expect(warning?.args[1]).to.deep.include({ hostFingerprint: server.hostFingerprint });
      expect(tunnel.status().hostFingerprint).to.equal(server.hostFingerprint);
    });
  });

  describe('credentials', () => {
    it('refuses a key sshd does not know, as a TunnelError that names the methods tried', async () => {
      const mark = server.mark();
      const { pool } = tunnelled(configFor({ DB_SSH_PRIVATE_KEY_PATH: server.strangerKey.path }));
      const error = await rejection(pool.query('select 1'));
      expect(error).to.be.instanceOf(TunnelError);
      expect(error.message).to.match(/authentication as .* failed \(tried publickey\)/);
      expect(error.cause).to.be.instanceOf(Error);
      const log = await server.waitForLog(CONNECTION_END, mark);
      expect(log).to.include(server.strangerKey.fingerprint);
      expect(log).not.to.match(ACCEPTED);
    });

    it('logs in with a passphrase-protected key given inline, and never logs the key or the passphrase', async () => {
      const { encryptedKey } = server;
      const config = configFor({
        DB_SSH_PRIVATE_KEY_PATH: '',
        DB_SSH_PRIVATE_KEY: encryptedKey.privateKey,
        DB_SSH_PASSPHRASE: encryptedKey.passphrase,
      });
      const mark = server.mark();
      const { pool } = tunnelled(config);
      const { rows } = await pool.query<{ one: number }>('select 1 as one');
      expect(rows[0]?.one).to.equal(1);
      expect(server.logSince(mark)).to.include(`Accepted publickey for ${server.user}`);
      expect(server.logSince(mark)).to.include(encryptedKey.fingerprint);
      const text = loggedText();
      expect(text).not.to.include(encryptedKey.passphrase);
      expect(text).not.to.include('PRIVATE KEY');
    });

    it('refuses a wrong passphrase at loadConfig with a ConfigError that does not contain it, before connecting', () => {
      const wrong = 'not the passphrase at all';
      const mark = server.mark();
      let error: unknown;
      try {
        configFor({ DB_SSH_PRIVATE_KEY_PATH: server.encryptedKey.path, DB_SSH_PASSPHRASE: wrong });
      } catch (caught) {
        error = caught;
      }
      expect(error).to.be.instanceOf(ConfigError);
      expect((error as ConfigError).variable).to.equal('DB_SSH_PASSPHRASE');
      const cause = (error as Error).cause as Error | undefined;
      expect(`${(error as Error).message} ${String(cause?.message)}`).not.to.include(wrong);
      expect(server.logSince(mark)).not.to.include('Connection from');
    });

    describe('with an ssh-agent', () => {
      let agent: SshAgent;

      before(async () => {
        agent = await server.startAgent(server.userKey);
      });

      after(async () => {
        await agent?.stop();
      });

      it('logs in with a key held by the agent', async () => {
        const mark = server.mark();
        const { pool } = tunnelled(configFor({ DB_SSH_PRIVATE_KEY_PATH: '', DB_SSH_AGENT: agent.socket }));
        const { rows } = await pool.query<{ one: number }>('select 1 as one');
        expect(rows[0]?.one).to.equal(1);
        const log = server.logSince(mark);
        expect(log).to.include(`Accepted publickey for ${server.user}`);
        expect(log).to.include(server.userKey.fingerprint);
      });

      it('tries the configured key before the agent', async () => {
        const mark = server.mark();
        const { pool } = tunnelled(
          configFor({ DB_SSH_PRIVATE_KEY_PATH: server.strangerKey.path, DB_SSH_AGENT: agent.socket }),
        );
        await pool.query('select 1');
        const log = server.logSince(mark);
        const stranger = log.indexOf(server.strangerKey.fingerprint);
        const fromAgent = log.indexOf(server.userKey.fingerprint);
        expect(stranger).to.be.greaterThan(-1);
        expect(fromAgent).to.be.greaterThan(stranger);
      });
    });
  });

  describe('when sshd cannot be reached', () => {
    it('fails with a clear TunnelError within the ready timeout when nothing listens', async () => {
      const port = await freePort();
      const config = configFor({ DB_SSH_PORT: String(port), DB_SSH_READY_TIMEOUT_MS: '2000' });
      const { tunnel, pool } = tunnelled(config);
      const started = performance.now();
      const error = await rejection(pool.query('select 1'));
      expect(performance.now() - started).to.be.below(2000);
      expect(error).to.be.instanceOf(TunnelError);
      expect((error as TunnelError).code).to.equal('ECONNREFUSED');
      expect(error.message).to.include(`cannot reach the SSH server ${server.user}@127.0.0.1:${port}`);
      expect(tunnel.status()).to.deep.include({ state: 'reconnecting', lastError: error.message });
    });

    describe('a server that accepts TCP but never answers', () => {
      let silent: Server;
      let port: number;
      const sockets = new Set<Socket>();

      before(async () => {
        port = await freePort();
        silent = createServer((socket) => {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
        });
        await new Promise<void>((resolve) => silent.listen(port, '127.0.0.1', resolve));
      });

      after(async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      });

      it('gives up when the ready timeout passes', async () => {
        const config = configFor({ DB_SSH_PORT: String(port), DB_SSH_READY_TIMEOUT_MS: '500' });
        const { pool } = tunnelled(config);
        const started = performance.now();
        const error = await rejection(pool.query('select 1'));
        const elapsed = performance.now() - started;
        expect(error).to.be.instanceOf(TunnelError);
        expect(error.message).to.include('did not finish within 500 ms');
        expect(elapsed).to.be.within(400, 500 + 1000);
      });

      it('close() abandons a handshake in progress: the waiting connection fails with a TunnelError', async () => {
        const config = configFor({ DB_SSH_PORT: String(port), DB_SSH_READY_TIMEOUT_MS: '20000' });
        const { tunnel, pool } = tunnelled(config);
        const pending = rejection(pool.query('select 1'));
        while (sockets.size === 0) await new Promise((resolve) => setTimeout(resolve, 10));
        await tunnel.close();
        const error = await pending;
        expect(error).to.be.instanceOf(TunnelError);
        expect(error.message).to.include('is closed');
        expect(tunnel.status().state).to.equal('closed');
      });
    });
  });

  describe('close()', () => {
    it('ends the SSH connection after the pool, is idempotent, and refuses new connections', async () => {
      const mark = server.mark();
      const { tunnel, pool } = tunnelled(configFor());
      await Promise.all(Array.from({ length: 5 }, () => pool.query('select 1')));
      await pool.end();
      await Promise.all([tunnel.close(), tunnel.close()]);
      await tunnel.close();
      expect(logger.warn.calledWithMatch('channels still in use')).to.equal(false);
      expect(tunnel.status()).to.deep.include({ state: 'closed', openChannels: 0 });
      await server.waitForLog(/Disconnected from user|Received disconnect from/, mark);

      const again = new pg.Client({
        host: '127.0.0.1',
        port: 5432,
        stream: tunnel.streamFactory({ host: '127.0.0.1', port: 5432 }),
      });
      const error = await rejection(again.connect());
      expect(error).to.be.instanceOf(TunnelError);
      expect(error.message).to.include('is closed');
    });

    it('fails a query still running on a channel with a ConnectionError (no hang)', async () => {
      const { tunnel, pool } = tunnelled(configFor());
      await pool.query('select 1');
      const running = rejection(pool.query('select pg_sleep(30)'));
      await new Promise((resolve) => setTimeout(resolve, 100));
      await tunnel.close();
      const error = await running;
      expect(error).to.be.instanceOf(ConnectionError);
      expect(logger.warn.calledWithMatch('channels still in use')).to.equal(true);
    });
  });
});
