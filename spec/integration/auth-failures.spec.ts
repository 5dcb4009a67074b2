/**
 * Start-up failures against a real server that asks for passwords: a throwaway cluster whose
 * pg_hba.conf makes one role authenticate with scram-sha-256 (the shared server trusts everyone,
 * so it cannot refuse a password). Wrong, missing and refused credentials are ConnectionError
 * with a hint naming DATABASE_URL and never the password; the demo prints each as one line.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sinon from 'sinon';
import { ConnectionError, createDatabase, loadConfig, type Database } from '../../lib/index.js';
import { findServerBinaries, startThrowawayCluster, type ThrowawayCluster } from '../support/postgres-cluster.js';
import { queryServer, rejection, spyLogger } from '../support/spec-helpers.js';

const run = promisify(execFile);

const ROLE = 'kr_scram_user';
const PASSWORD = 'Corr3ct-h0rse-battery';
const WRONG = 'Wr0ng-staple-guess';
const NO_LOGIN = 'kr_nologin_user';

describe('authentication failures (throwaway cluster with scram-sha-256)', function () {
  this.timeout(120_000);
  let cluster: ThrowawayCluster | undefined;
  const sandbox = sinon.createSandbox();
  const opened: Database<unknown>[] = [];

  const url = (user: string, password?: string): string =>
    `postgres://${user}${password === undefined ? '' : `:${password}`}@127.0.0.1:${cluster!.port}/postgres`;

  function open(user: string, password?: string) {
    const logger = spyLogger(sandbox);
    const database = createDatabase<unknown>({
      config: loadConfig({ DATABASE_URL: url(user, password), DB_POOL_TIMEOUT: '10000' }, { envFile: '/dev/null' }),
      logger,
    });
    opened.push(database);
    return { database, logger };
  }

  before(async function () {
    if (findServerBinaries() === undefined) {
      process.stdout.write('    skipping authentication failures: PostgreSQL server binaries are not installed\n');
      this.skip();
    }
    cluster = await startThrowawayCluster({ settings: { password_encryption: 'scram-sha-256' } });
    const admin = cluster.url();
    await queryServer(admin, `create role ${ROLE} login password '${PASSWORD}'`);
    await queryServer(admin, `create role ${NO_LOGIN} nologin`);
    const hba = join(cluster.dataDir, 'pg_hba.conf');
    // first match wins: these lines go before initdb's trust lines
    const lines = [`host all ${ROLE} 127.0.0.1/32 scram-sha-256`, `host all ${NO_LOGIN} 127.0.0.1/32 trust`];
    writeFileSync(hba, `${lines.join('\n')}\n${readFileSync(hba, 'utf8')}`);
    await queryServer(admin, 'select pg_reload_conf()');
  });

  afterEach(() => sandbox.restore());

  after(async () => {
    await Promise.all(opened.map((database) => database.close()));
    await cluster?.destroy();
  });

  it('the right password connects (the cluster really asks for it)', async () => {
    const { database } = open(ROLE, PASSWORD);
    expect(await database.query('select current_user as who')).to.deep.equal([{ who: ROLE }]);
  });

  it('a wrong password (28P01) is ConnectionError naming DATABASE_URL, never the password', async () => {
    const { database, logger } = open(ROLE, WRONG);
    const error = await rejection(database.query('select 1'));
    expect(error).to.be.instanceOf(ConnectionError);
    expect(error).to.include({ code: '28P01' });
    expect((error as ConnectionError).hint).to.equal('check the user name and password in DATABASE_URL');
    expect(error.message).to.match(/^password authentication failed for user "kr_scram_user"; check/);
    const everything = JSON.stringify([error.message, String(error.stack), Object.values(logger).map((s) => s.args)]);
    expect(everything).not.to.contain(WRONG);
  });

  it('no password where the server asks for one (pg: "client password must be a string") is ConnectionError', async () => {
    const { database } = open(ROLE);
    const error = await rejection(database.query('select 1'));
    expect(error).to.be.instanceOf(ConnectionError);
    expect(error.message).to.equal(
      'the server asks for a password and none was given; put the password in DATABASE_URL (postgres://user:password@host/database)',
    );
    expect((error.cause as Error).message).to.equal(
      'SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string',
    );
  });

  it('a role that may not log in (28000) is ConnectionError with a hint', async () => {
    const { database } = open(NO_LOGIN);
    const error = await rejection(database.query('select 1'));
    expect(error).to.be.instanceOf(ConnectionError);
    expect(error).to.include({ code: '28000' });
    expect(error.message).to.contain('is not permitted to log in');
    expect((error as ConnectionError).hint).to.contain('DATABASE_URL');
  });

  describe('the demo (npm start)', () => {
    /** Runs examples/demo.ts with `env`; resolves to its exit code and output. */
    async function demo(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
      const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
      const clean = Object.fromEntries(
        Object.entries(process.env).filter(([key]) => !key.startsWith('DB_') && !key.startsWith('DATABASE_')),
      );
      try {
        const { stdout, stderr } = await run(tsx, ['examples/demo.ts'], {
          env: { ...clean, DEBUG: '', ...env },
          timeout: 60_000,
        });
        return { code: 0, stdout, stderr };
      } catch (error) {
        const failed = error as { code?: number; stdout?: string; stderr?: string };
        return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
      }
    }

    it('a wrong password is one line, exit code 1, no stack and no password', async () => {
      const result = await demo({ DATABASE_URL: url(ROLE, WRONG) });
      expect(result.code).to.equal(1);
      const lines = result.stderr.trim().split('\n');
      expect(lines).to.have.length(1);
      // the migrator may name its step before the mapped message
      expect(lines[0]).to.match(/^demo: /);
      expect(lines[0]).to.contain(
        'password authentication failed for user "kr_scram_user"; check the user name and password in DATABASE_URL',
      );
      expect(result.stdout + result.stderr).not.to.contain(WRONG);
    });

    it('a server that refuses the connection is one line naming DATABASE_URL', async () => {
      const result = await demo({ DATABASE_URL: `postgres://app:${WRONG}@127.0.0.1:1/app` });
      expect(result.code).to.equal(1);
      expect(result.stderr.trim().split('\n')).to.have.length(1);
      expect(result.stderr).to.match(/^demo: .*connect ECONNREFUSED .*; check the host and port in DATABASE_URL/);
      expect(result.stdout + result.stderr).not.to.contain(WRONG);
    });

    it('a bad variable is one line (the ConfigError message), exit code 1', async () => {
      const result = await demo({ DATABASE_URL: url(ROLE, PASSWORD), DB_POOL_SIZE: '500' });
      expect(result.code).to.equal(1);
      expect(result.stderr).to.equal('demo: DB_POOL_SIZE="500" is not allowed: expected an integer from 1 to 100\n');
    });
  });
});
