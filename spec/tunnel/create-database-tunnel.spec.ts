/**
 * createDatabase with DB_SSH_* configuration (from loadConfig) against a real OpenSSH sshd: the
 * Database's queries go through the tunnel, status() and health() show it, a dropped SSH
 * connection surfaces as a ConnectionError and heals, close() ends the pool and then SSH.
 */
import { expect } from 'chai';
import { sql } from 'kysely';
import sinon from 'sinon';
import { loadConfig } from '../../lib/config.js';
import { createDatabase, type Database } from '../../lib/database.js';
import { ConnectionError, mapError } from '../../lib/errors.js';
import { sshEnv, startSshServerOrSkip, type SshServer } from '../support/ssh-server.js';
import { testDatabaseUrl } from '../support/test-server.js';
import { freePort } from '../support/free-port.js';
import { spyLogger, type SpyLogger } from '../support/spec-helpers.js';
import { installOtel, parentOf } from '../support/otel.js';

describe('createDatabase through the SSH tunnel (real sshd)', function () {
  let server: SshServer;
  let database: Database<unknown> | undefined;
  let sandbox: sinon.SinonSandbox;
  let logger: SpyLogger;

  before(async function () {
    server = await startSshServerOrSkip(this, 'createDatabase through the SSH tunnel');
  });

  after(async () => {
    await server?.destroy();
  });

  beforeEach(() => {
    sandbox = sinon.createSandbox();
    logger = spyLogger(sandbox);
  });

  afterEach(async () => {
    await database?.close();
    database = undefined;
    sandbox.restore();
  });

  function open(overrides: Record<string, string> = {}): Database<unknown> {
    const config = loadConfig(sshEnv(server, testDatabaseUrl(), { DB_POOL_SIZE: '4', ...overrides }));
    database = createDatabase<unknown>({ config, logger });
    return database;
  }

  it('runs queries through one SSH connection and reports the tunnel in status() and health()', async () => {
    const mark = server.mark();
    const db = open();
    expect(db.status().tunnel).to.deep.include({ state: 'idle', openChannels: 0 });
    expect(server.logSince(mark)).not.to.include('Connection from');

    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => sql<{ n: number }>`select ${i}::int as n`.execute(db.db)),
    );
    expect(results.map((r) => r.rows[0]?.n)).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));

    const health = await db.health();
    expect(health.ok).to.equal(true);
    expect(health.tunnel).to.deep.include({
      state: 'ready',
      reconnects: 0,
      handshakes: 1,
      hostFingerprint: server.hostFingerprint,
    });
    expect(health.tunnel?.openChannels).to.be.within(1, 4);
    expect(db.status().tunnel?.channelsOpened).to.be.within(1, 4);

    const log = server.logSince(mark);
    expect(log.match(/Accepted publickey for /g)?.length).to.equal(1);
    expect(log).to.match(/server_request_direct_tcpip: originator .*, target 127\.0\.0\.1 port \d+/);
  });

  it('close() ends the pool, then the SSH connection', async () => {
    const mark = server.mark();
    const db = open();
    await sql`select 1`.execute(db.db);
    await db.close();
    await db.close();
    expect(db.status().tunnel).to.deep.include({ state: 'closed', openChannels: 0 });
    // the pool's connections had ended (Terminate sent, channel closed by the server) before SSH did
    expect(logger.warn.calledWithMatch('channels still in use')).to.equal(false);
    // the client said goodbye (SSH_DISCONNECT_BY_APPLICATION = 11): no reset, no timeout
    const log = await server.waitForLog(/Received disconnect from 127\.0\.0\.1 port \d+:11:/, mark);
    expect(log).to.include('server_request_direct_tcpip');
    expect(log).not.to.match(/Connection reset|Timeout, client not responding/);
  });

  it('a dropped SSH connection fails the running query as a ConnectionError; the next ones reconnect', async () => {
    const db = open({ DB_SSH_KEEPALIVE_MS: '1000' });
    await sql`select 1`.execute(db.db);
    const running = sql`select pg_sleep(10)`.execute(db.db).then(
      () => undefined,
      (error: unknown) => error,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.signalConnections('SIGKILL');
    const error = await running;
    expect(mapError(error)).to.be.instanceOf(ConnectionError);

    expect(await db.ping()).to.equal(true);
    const health = await db.health();
    expect(health.ok).to.equal(true);
    expect(health.tunnel).to.deep.include({ state: 'ready', reconnects: 1 });
  });

  it('OpenTelemetry: statements say they went through the tunnel; each (re)connection has a span under its checkout', async () => {
    const otel = installOtel();
    try {
      const db = open({ DB_SSH_KEEPALIVE_MS: '1000' });
      await otel.tracer.startActiveSpan('request', async (span) => {
        await sql`select 1 as one`.execute(db.db);
        span.end();
      });
      server.signalConnections('SIGKILL');
      // the pooled connection died with the SSH connection: the next checkouts reconnect
      await sql`select 2 as two`.execute(db.db).catch(() => undefined);
      expect(await db.ping()).to.equal(true);

      const spans = otel.spans();
      const statement = spans.find((s) => s.name === 'SELECT' && String(s.attributes['db.query.text']).includes('one'));
      expect(statement?.attributes['kysely_repository.tunnel']).to.equal('ssh');
      const connects = spans.filter((s) => s.name === 'ssh connect');
      expect(connects.map((s) => s.attributes['kysely_repository.tunnel.reconnect'])).to.deep.equal([false, true]);
      for (const connect of connects) {
        expect(connect.attributes).to.include({ 'server.address': server.host, 'server.port': server.port });
        const parent = spans.find((s) => s.spanContext().spanId === parentOf(connect));
        expect(parent?.name).to.equal('acquire connection');
      }
      const points = await otel.collect();
      expect(points.find((p) => p.name === 'kysely_repository.tunnel.reconnects')?.value).to.equal(1);
      expect(points.find((p) => p.name === 'kysely_repository.tunnel.channels')?.value).to.be.at.least(1);
    } finally {
      await otel.uninstall();
    }
  });

  it('a multi-host DATABASE_URL: each host is reached from the SSH server, a host it cannot reach is skipped', async () => {
    const down = await freePort();
    const url = testDatabaseUrl().replace(/@([^/]+)\//, (_, host: string) => `@127.0.0.1:${down},${host}/`);
    const config = loadConfig(
      sshEnv(server, `${url}?target_session_attrs=read-write`, { DB_POOL_SIZE: '4', DB_FAILOVER_TIMEOUT_MS: '5000' }),
    );
    expect(config.failover?.hosts).to.have.length(2);
    database = createDatabase<unknown>({ config, logger });
    const rows = await database.query<{ recovery: boolean }>('select pg_is_in_recovery() as recovery');
    expect(rows).to.deep.equal([{ recovery: false }]);
    const status = database.status();
    expect(status.failover?.hosts.map((h) => [h.state, h.current])).to.deep.equal([
      ['down', false],
      ['up', true],
    ]);
    // the SSH server refused to open a channel to the port nothing listens on
    expect(status.failover?.hosts[0]?.lastError).to.match(/SSH|channel|tunnel/i);
    expect(status.tunnel?.handshakes).to.equal(1);
    expect(status.tunnel?.openChannels).to.be.at.least(1);
  });
});
