/**
 * A multi-host DATABASE_URL on real servers: which server each target_session_attrs settles on
 * (a throwaway primary and a streaming standby made from it with pg_basebackup), a host that is
 * down skipped, the standbys of the list serving reads, and a primary that turns read-only
 * (25006) given up for the next read-write host (two independent servers).
 */
import { expect } from 'chai';
import { sql } from 'kysely';
import sinon from 'sinon';
import {
  createDatabase,
  loadConfig,
  ReadOnlyTransactionError,
  type Database,
  type DatabaseConfig,
  type TargetSessionAttrs,
} from '../../lib/index.js';
import { freePort } from '../support/free-port.js';
import { findServerBinaries, startThrowawayCluster, type ThrowawayCluster } from '../support/postgres-cluster.js';
import { queryServer as query, rejection, spyLogger } from '../support/spec-helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function configFor(ports: readonly number[], parameters: string, env: Record<string, string> = {}): DatabaseConfig {
  const hosts = ports.map((port) => `127.0.0.1:${port}`).join(',');
  return loadConfig(
    {
      DATABASE_URL: `postgres://postgres@${hosts}/postgres?${parameters}`,
      DB_POOL_SIZE: '4',
      DB_POOL_TIMEOUT: '10000',
      DB_FAILOVER_TIMEOUT_MS: '8000',
      DB_REPLICA_RETRY_MS: '100',
      ...env,
    },
    { envFile: '/dev/null' },
  );
}

async function serverPort(database: Database<unknown>): Promise<number> {
  const rows = await database.query<{ port: number }>('select inet_server_port() as port');
  return rows[0]!.port;
}

describe('multi-host DATABASE_URL (real servers)', function () {
  this.timeout(60_000);
  const sandbox = sinon.createSandbox();
  const opened: Database<unknown>[] = [];
  const open = (config: DatabaseConfig) => {
    const database = createDatabase<unknown>({ config, logger: spyLogger(sandbox) });
    opened.push(database);
    return database;
  };

  before(function () {
    if (!findServerBinaries()) {
      process.stdout.write('    skipped: the multi-host specs need the PostgreSQL server binaries (pg_basebackup)\n');
      this.skip();
    }
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((database) => database.close()));
    sandbox.restore();
  });

  describe('a primary and its standby', () => {
    let primary: ThrowawayCluster;
    let standby: ThrowawayCluster;
    let down: number;

    before(async function () {
      this.timeout(120_000);
      primary = await startThrowawayCluster();
      standby = await startThrowawayCluster({ replicaOf: primary });
      down = await freePort();
    });

    after(async function () {
      this.timeout(60_000);
      for (const cluster of [standby, primary]) await cluster?.destroy();
    });

    it('settles on the server each target_session_attrs asks for, skipping a host that is down', async () => {
      const expected: [TargetSessionAttrs, number][] = [
        ['any', standby.port],
        ['read-write', primary.port],
        ['primary', primary.port],
        ['read-only', standby.port],
        ['standby', standby.port],
        ['prefer-standby', standby.port],
      ];
      for (const [attrs, port] of expected) {
        const database = open(configFor([down, standby.port, primary.port], `target_session_attrs=${attrs}`));
        expect(await serverPort(database), attrs).to.equal(port);
        const failover = database.status().failover!;
        expect(failover.current).to.equal(`127.0.0.1:${port}`);
        expect(failover.hosts.map((h) => [h.state, h.role])).to.deep.equal(
          attrs === 'any' || attrs === 'read-only' || attrs === 'standby' || attrs === 'prefer-standby'
            ? [
                ['down', 'unknown'],
                ['up', 'standby'],
                ['unknown', 'unknown'],
              ]
            : [
                ['down', 'unknown'],
                ['up', 'standby'],
                ['up', 'primary'],
              ],
        );
      }
      // one host asking for a primary: its role is checked, and nothing else reads from it
      const single = open(configFor([primary.port], 'target_session_attrs=read-write'));
      expect(await serverPort(single)).to.equal(primary.port);
      expect(single.status().replicas).to.equal(undefined);
      expect(single.status().failover?.hosts).to.have.length(1);
      // prefer-standby with the standby gone from the list: any server
      const fallback = open(configFor([down, primary.port], 'target_session_attrs=prefer-standby'));
      expect(await serverPort(fallback)).to.equal(primary.port);
    });

    it('fails with a ConnectionError naming every host when none matches within DB_FAILOVER_TIMEOUT_MS', async () => {
      const database = open(
        configFor([down, standby.port], 'target_session_attrs=read-write', { DB_FAILOVER_TIMEOUT_MS: '600' }),
      );
      const error = await rejection(database.query('select 1'));
      expect(error.name).to.equal('ConnectionError');
      expect(error.message).to.match(/no host of DATABASE_URL was a read-write server/);
      expect(error.message, error.message).to.include(`127.0.0.1:${down} down`);
      expect(error.message, error.message).to.include(`127.0.0.1:${standby.port} standby`);
    });

    it('sends repository-style reads to the standbys of the list, and health() reports every host', async () => {
      const database = open(configFor([standby.port, primary.port], 'target_session_attrs=read-write'));
      expect(await serverPort(database)).to.equal(primary.port);
      // the replica pool of the list's standby takes reads once its first check passes
      let port = 0;
      for (let i = 0; i < 100 && port !== standby.port; i++) {
        const { rows } = await sql<{ port: number }>`select inet_server_port() as port`.execute(database.replica);
        port = rows[0]!.port;
        if (port !== standby.port) await sleep(50);
      }
      expect(port, JSON.stringify(database.status().replicas)).to.equal(standby.port);
      const health = await database.health();
      expect(health.ok).to.equal(true);
      expect(health.failover?.hosts.map((h) => [h.address, h.role, h.state, h.current])).to.deep.equal([
        [`127.0.0.1:${standby.port}`, 'standby', 'up', false],
        [`127.0.0.1:${primary.port}`, 'primary', 'up', true],
      ]);
      expect(health.replicas?.map((r) => r.state)).to.deep.equal(['up', 'down']);
      expect(health.replicas?.[1]?.lastError).to.match(/not a standby/);
    });
  });

  describe('a primary that turns read-only (25006)', () => {
    let first: ThrowawayCluster;
    let second: ThrowawayCluster;

    before(async function () {
      this.timeout(120_000);
      [first, second] = await Promise.all([startThrowawayCluster(), startThrowawayCluster()]);
      for (const cluster of [first, second]) await query(cluster.url(), 'create table fenced (id int)');
    });

    after(async function () {
      this.timeout(60_000);
      for (const cluster of [first, second]) await cluster?.destroy();
    });

    it('checks the host after a 25006, gives it up, and sends new connections to the next read-write host', async () => {
      const logger = spyLogger(sandbox);
      const database = createDatabase<unknown>({
        config: configFor([first.port, second.port], 'target_session_attrs=read-write'),
        logger,
      });
      opened.push(database);
      await database.query('insert into fenced values (1)');
      expect(await serverPort(database)).to.equal(first.port);
      // fenced: every session's next transaction is read-only
      await query(first.url(), 'alter system set default_transaction_read_only = on');
      await query(first.url(), 'select pg_reload_conf()');
      await sleep(200);
      const refused = await rejection(database.query('insert into fenced values (2)'));
      expect(refused).to.be.instanceOf(ReadOnlyTransactionError);
      let port = 0;
      for (let i = 0; i < 100 && port !== second.port; i++) {
        try {
          await database.query('insert into fenced values (3)');
          port = await serverPort(database);
        } catch (error) {
          expect(error).to.be.instanceOf(ReadOnlyTransactionError);
          await sleep(20);
        }
      }
      expect(port).to.equal(second.port);
      const status = database.status().failover!;
      expect(status.current).to.equal(`127.0.0.1:${second.port}`);
      expect(status.failovers).to.equal(1);
      expect(status.hosts[0]).to.deep.include({ role: 'primary', readOnly: true });
      const warnings = logger.warn.getCalls().filter((call) => /failover/.test(String(call.args[0])));
      expect(warnings).to.have.length(1);
      expect(warnings[0]!.args[1]).to.deep.include({ from: `127.0.0.1:${first.port}`, to: `127.0.0.1:${second.port}` });
      expect(await query(first.url(), 'select count(*)::int as n from fenced where id = 3')).to.deep.equal([{ n: 0 }]);
    });
  });
});
