import { expect } from 'chai';
import sinon from 'sinon';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { ed25519KeyPair } from '../support/ssh-key-pair.js';
import {
  CONFIG_VARIABLES,
  ConfigError,
  createDatabase,
  loadConfig,
  type ConfigVariable,
  type Database,
} from '../../lib/index.js';

const URL = 'postgres://app:pw-Secret-123@db.internal:6543/appdb';
/** A real private key (loadConfig parses it), made for this run. */
const KEY = `${ed25519KeyPair().private.trim()}\n`;
/** The key's base64 lines, none of which may be shown. */
const KEY_LINES = KEY.split('\n').filter((line) => line.length > 20 && !line.startsWith('-----'));

/** loadConfig without reading a .env from the working directory. */
function load(env: Record<string, string>, options: NonNullable<Parameters<typeof loadConfig>[1]> = {}) {
  return loadConfig(env, { ...options, envFile: options.envFile ?? makeEnvFile('') });
}

let dir: string;
function makeEnvFile(content: string): string {
  const path = join(dir, `env-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, content);
  return path;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return error as ConfigError;
  }
  expect.fail('expected a ConfigError');
}

describe('loadConfig', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kr-config-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('defaults and parsing', () => {
    it('parses DATABASE_URL with pg-connection-string and applies the documented defaults', () => {
      const config = load({ DATABASE_URL: URL });
      expect(config.engine).to.equal('postgres');
      expect(config.connection).to.include({ host: 'db.internal', port: 6543, database: 'appdb', user: 'app' });
      expect(config.connection?.password).to.equal('pw-Secret-123');
      expect(config.connection?.ssl).to.equal(false);
      expect(config.pool).to.deep.equal({
        size: 10,
        acquireTimeoutMs: 30_000,
        idleTimeoutMs: 10_000,
        maxLifetimeSeconds: 3_600,
        maxOverflow: 0,
      });
      expect(config).to.include({
        statementTimeoutMs: 30_000,
        echoSql: false,
        slowQueryMs: 1_000,
        preparedStatements: true,
        preparedStatementsMax: 100,
        pipelining: true,
        pgbouncer: 'off',
        ssh: undefined,
        applicationName: 'kysely-repository',
        logLevel: 'info',
      });
      expect(config.replicas).to.deep.equal([]);
    });

    it('accepts postgresql:// as well as postgres://, and honours sslmode', () => {
      expect(load({ DATABASE_URL: 'postgresql://u@h/d' }).connection?.host).to.equal('h');
      expect(load({ DATABASE_URL: 'postgres://u@h/d?sslmode=disable' }).connection?.ssl).to.equal(false);
      expect(load({ DATABASE_URL: 'postgres://u@h/d?sslmode=verify-full' }).connection?.ssl).to.be.an('object');
    });

    it('reads pglite:// as the in-memory embedded engine and pglite:///dir as a persisted one', () => {
      expect(load({ DATABASE_URL: 'pglite://' })).to.include({ engine: 'pglite', embeddedDir: undefined });
      expect(load({ DATABASE_URL: 'pglite:///var/data/app' })).to.include({
        engine: 'pglite',
        embeddedDir: '/var/data/app',
      });
      expect(load({ DATABASE_URL: 'pglite://', DB_EMBEDDED_DIR: '/srv/db' }).embeddedDir).to.equal('/srv/db');
    });

    it('accepts true/false, 1/0, yes/no for booleans and treats an empty value as unset', () => {
      for (const [raw, value] of [
        ['true', true],
        ['1', true],
        ['yes', true],
        ['YES', true],
        ['false', false],
        ['0', false],
        ['no', false],
      ] as const) {
        expect(load({ DATABASE_URL: URL, DB_ECHO_SQL: raw }).echoSql).to.equal(value);
      }
      expect(load({ DATABASE_URL: URL, DB_POOL_SIZE: '' }).pool.size).to.equal(10);
      expect(load({ DATABASE_URL: URL, DB_PREPARED_STATEMENTS: '' }).preparedStatements).to.equal(true);
      expect(load({ DATABASE_URL: URL, DB_PREPARED_STATEMENTS_MAX: '7' }).preparedStatementsMax).to.equal(7);
      expect(() => load({ DATABASE_URL: URL, DB_PREPARED_STATEMENTS_MAX: '0' })).to.throw(/DB_PREPARED_STATEMENTS_MAX/);
    });

    it('reads comma-separated replica URLs', () => {
      const config = load({ DATABASE_URL: URL, DATABASE_REPLICA_URLS: 'postgres://r1/db, postgres://r2:5433/db' });
      expect(config.replicas.map((r) => [r.host, r.port])).to.deep.equal([
        ['r1', 5432],
        ['r2', 5433],
      ]);
    });

    it('reads the SSH settings with their defaults, and the agent from SSH_AUTH_SOCK', () => {
      const config = load({
        DATABASE_URL: URL,
        DB_SSH_HOST: 'bastion',
        DB_SSH_USER: 'tunnel',
        DB_SSH_PRIVATE_KEY: KEY,
        SSH_AUTH_SOCK: '/run/agent.sock',
      });
      expect(config.ssh).to.include({
        host: 'bastion',
        port: 22,
        user: 'tunnel',
        agent: '/run/agent.sock',
        acceptUnknownHostKey: false,
        keepaliveIntervalMs: 5_000,
        keepaliveCountMax: 3,
        readyTimeoutMs: 10_000,
        execNoDelay: true,
      });
      expect(config.ssh?.privateKey).to.equal(KEY.trim());
      expect(
        load({ DATABASE_URL: URL, DB_SSH_HOST: 'b', DB_SSH_USER: 'u', DB_SSH_AGENT: 'no', SSH_AUTH_SOCK: '/x' }).ssh
          ?.agent,
      ).to.equal(undefined);
    });

    it('reads the private key from DB_SSH_PRIVATE_KEY_PATH', () => {
      const path = makeEnvFile(KEY);
      const config = load({ DATABASE_URL: URL, DB_SSH_HOST: 'b', DB_SSH_USER: 'u', DB_SSH_PRIVATE_KEY_PATH: path });
      expect(config.ssh?.privateKey).to.equal(KEY);
      expect(config.ssh?.privateKeyPath).to.equal(path);
    });
  });

  describe('.env files', () => {
    it('reads a .env file, and the process environment wins over it', () => {
      const envFile = makeEnvFile('DATABASE_URL=postgres://file@h/db\nDB_POOL_SIZE=7\nDB_ECHO_SQL=true\n');
      const config = loadConfig({ DB_POOL_SIZE: '3' }, { envFile });
      expect(config.connection?.user).to.equal('file');
      expect(config.pool.size).to.equal(3);
      expect(config.echoSql).to.equal(true);
    });

    it('an empty variable in the environment does not override the file', () => {
      const envFile = makeEnvFile('DATABASE_URL=postgres://file@h/db\nDB_POOL_SIZE=7\n');
      expect(loadConfig({ DB_POOL_SIZE: '' }, { envFile }).pool.size).to.equal(7);
    });

    it('a missing default .env is fine, a missing named envFile is a ConfigError', () => {
      expect(loadConfig({ DATABASE_URL: URL }, {}).engine).to.equal('postgres');
      const error = configError(() => loadConfig({ DATABASE_URL: URL }, { envFile: join(dir, 'absent.env') }));
      expect(error.variable).to.equal('envFile');
      expect(error.message).to.contain('absent.env');
    });
  });

  describe('bad values: each ConfigError names the variable, the value and what is allowed', () => {
    // the last element: what the message shows of the value (an unparsable URL: its scheme at most)
    const cases: [ConfigVariable, string, Record<string, string>?, string?][] = [
      ['DATABASE_URL', 'mysql://u@h/db', {}, '"mysql://"'],
      ['DATABASE_URL', 'postgres://u@h:99999/db', {}, 'port'],
      ['DATABASE_URL', 'postgres://u@h'],
      ['DATABASE_URL', 'pglite:relative/dir', {}, 'pglite:///absolute/dir'],
      ['DATABASE_REPLICA_URLS', 'postgres://ok/db,http://bad/db', {}, 'entry 2 must start with postgres://'],
      ['DB_POOL_SIZE', '0'],
      ['DB_POOL_SIZE', '101'],
      ['DB_POOL_SIZE', 'ten'],
      ['DB_POOL_SIZE', '2.5'],
      ['DB_POOL_SIZE', '-1'],
      ['DB_POOL_TIMEOUT', '0'],
      ['DB_POOL_TIMEOUT', '1e3'],
      ['DB_POOL_IDLE_TIMEOUT', '-5'],
      ['DB_POOL_RECYCLE', 'soon'],
      ['DB_MAX_OVERFLOW', '101'],
      ['DB_MAX_OVERFLOW', '-1'],
      ['DB_MAX_OVERFLOW', 'many'],
      ['DB_MAX_OVERFLOW', '1.5'],
      ['DB_STATEMENT_TIMEOUT', '99999999999'],
      ['DB_SLOW_QUERY_MS', 'fast'],
      ['DB_ECHO_SQL', 'maybe'],
      ['DB_PREPARED_STATEMENTS', 'on'],
      ['DB_PIPELINING', 'sometimes'],
      ['DB_PGBOUNCER', 'statement'],
      ['DB_READ_YOUR_WRITES_MS', '0'],
      ['DB_REPLICA_RETRY_MS', 'x'],
      ['DB_APPLICATION_NAME', 'é'.repeat(3)],
      ['DB_LOG_LEVEL', 'verbose'],
      ['DB_EMBEDDED_DIR', 'relative/dir'],
      ['DB_SSH_PORT', '0', { DB_SSH_HOST: 'b', DB_SSH_USER: 'u' }],
      ['DB_SSH_PORT', '65536', { DB_SSH_HOST: 'b', DB_SSH_USER: 'u' }],
      ['DB_SSH_HOST_FINGERPRINT', 'MD5:aa:bb', { DB_SSH_HOST: 'b', DB_SSH_USER: 'u' }],
      ['DB_SSH_HOST_FINGERPRINT', 'SHA256:short', { DB_SSH_HOST: 'b', DB_SSH_USER: 'u' }],
      ['DB_SSH_ACCEPT_UNKNOWN_HOST_KEY', 'sure', { DB_SSH_HOST: 'b', DB_SSH_USER: 'u' }],
      ['DB_SSH_KEEPALIVE_MS', '0', { DB_SSH_HOST: 'b', DB_SSH_USER: 'u' }],
      ['DB_SSH_KEEPALIVE_COUNT', '101', { DB_SSH_HOST: 'b', DB_SSH_USER: 'u' }],
      ['DB_SSH_READY_TIMEOUT_MS', 'never', { DB_SSH_HOST: 'b', DB_SSH_USER: 'u' }],
      ['DB_SSH_EXEC_NODELAY', '2', { DB_SSH_HOST: 'b', DB_SSH_USER: 'u' }],
      ['DB_SSH_AGENT', 'true', { DB_SSH_HOST: 'b', DB_SSH_USER: 'u' }],
      ['DB_SSH_PRIVATE_KEY', 'not a key', { DB_SSH_HOST: 'b', DB_SSH_USER: 'u' }],
    ];
    for (const [variable, value, extra, shows] of cases) {
      it(`${variable}=${JSON.stringify(value)}`, () => {
        const env = { DATABASE_URL: URL, ...extra, [variable]: value };
        const error = configError(() => load(env));
        expect(error.variable).to.equal(variable);
        expect(error.message).to.contain(variable);
        expect(error.allowed).to.equal(CONFIG_VARIABLES[variable].allowed);
        expect(error.message).to.contain(error.allowed);
        if (variable === 'DB_SSH_PRIVATE_KEY') expect(error.message).not.to.contain(value);
        else
          expect(error.message).to.contain(shows ?? JSON.stringify(value.split(',').pop()).slice(1, -1).slice(0, 12));
      });
    }

    it('DATABASE_URL missing', () => {
      const error = configError(() => load({}));
      expect(error.variable).to.equal('DATABASE_URL');
      expect(error.message).to.equal('DATABASE_URL is required');
    });

    it('DB_SSH_USER missing when DB_SSH_HOST is set', () => {
      expect(configError(() => load({ DATABASE_URL: URL, DB_SSH_HOST: 'b' })).variable).to.equal('DB_SSH_USER');
    });

    it('both DB_SSH_PRIVATE_KEY_PATH and DB_SSH_PRIVATE_KEY', () => {
      const env = { DATABASE_URL: URL, DB_SSH_HOST: 'b', DB_SSH_USER: 'u', DB_SSH_PRIVATE_KEY: KEY };
      const error = configError(() => load({ ...env, DB_SSH_PRIVATE_KEY_PATH: makeEnvFile(KEY) }));
      expect(error.variable).to.equal('DB_SSH_PRIVATE_KEY_PATH');
    });

    it('an unreadable DB_SSH_PRIVATE_KEY_PATH', () => {
      const env = { DATABASE_URL: URL, DB_SSH_HOST: 'b', DB_SSH_USER: 'u' };
      const error = configError(() => load({ ...env, DB_SSH_PRIVATE_KEY_PATH: join(dir, 'missing_key') }));
      expect(error.variable).to.equal('DB_SSH_PRIVATE_KEY_PATH');
      expect(error.cause).to.be.instanceOf(Error);
    });

    it('masks the password of a bad DATABASE_URL', () => {
      const error = configError(() => load({ DATABASE_URL: 'postgres://u:hunter22@h:0/db' }));
      expect(error.message).not.to.contain('hunter22');
      expect(error.message).to.contain('***');
    });
  });

  describe('DB_MAX_OVERFLOW', () => {
    it('reads 0 to 100 into pool.maxOverflow (default 0)', () => {
      expect(load({ DATABASE_URL: URL }).pool.maxOverflow).to.equal(0);
      expect(load({ DATABASE_URL: URL, DB_MAX_OVERFLOW: '0' }).pool.maxOverflow).to.equal(0);
      expect(load({ DATABASE_URL: URL, DB_MAX_OVERFLOW: '10' }).pool).to.include({ size: 10, maxOverflow: 10 });
      expect(load({ DATABASE_URL: URL, DB_MAX_OVERFLOW: '100' }).pool.maxOverflow).to.equal(100);
    });

    it('is a known variable: no typo warning', () => {
      const logger = { warn: sinon.spy() };
      load({ DATABASE_URL: URL, DB_MAX_OVERFLOW: '5' }, { logger });
      expect(logger.warn.callCount).to.equal(0);
    });
  });

  describe('typo help', () => {
    it('warns about an unknown DB_* variable, naming the closest known one', () => {
      const logger = { warn: sinon.spy() };
      load({ DATABASE_URL: URL, DB_POOL_SIZ: '5', DB_ECHO_SLQ: '1', OTHER_VAR: 'x' }, { logger });
      expect(logger.warn.callCount).to.equal(2);
      expect(logger.warn.firstCall.args[0]).to.contain('DB_POOL_SIZ').and.contain('DB_POOL_SIZE');
      expect(logger.warn.secondCall.args[0]).to.contain('DB_ECHO_SLQ').and.contain('DB_ECHO_SQL');
    });

    describe('on the README path, createDatabase({ config: loadConfig() })', () => {
      const sandbox = sinon.createSandbox();
      const opened: Database<unknown>[] = [];
      const spyLogger = () => ({
        error: sandbox.spy(),
        warn: sandbox.spy(),
        info: sandbox.spy(),
        debug: sandbox.spy(),
      });
      afterEach(async () => {
        sandbox.restore();
        await Promise.all(opened.splice(0).map((database) => database.close()));
      });

      it("warns once, through createDatabase's logger, naming the variable and the closest known one", () => {
        const config = load({ DATABASE_URL: URL, DB_POOLSIZE: '5' });
        const logger = spyLogger();
        opened.push(createDatabase({ config, logger }));
        expect(logger.warn.callCount).to.equal(1);
        expect(logger.warn.firstCall.args[0]).to.equal(
          'unknown configuration variable DB_POOLSIZE is ignored; did you mean DB_POOL_SIZE?',
        );
        expect(logger.warn.firstCall.args[1]).to.include({ variable: 'DB_POOLSIZE', closest: 'DB_POOL_SIZE' });
        // a second Database on the same config does not repeat it
        const again = spyLogger();
        opened.push(createDatabase({ config, logger: again }));
        expect(again.warn.callCount).to.equal(0);
      });

      it('does not warn twice when loadConfig already had a logger', () => {
        const early = { warn: sinon.spy() };
        const config = load({ DATABASE_URL: URL, DB_POOLSIZE: '5' }, { logger: early });
        const logger = spyLogger();
        opened.push(createDatabase({ config, logger }));
        expect(early.warn.callCount).to.equal(1);
        expect(logger.warn.callCount).to.equal(0);
      });

      it('says nothing when every DB_* variable is known', () => {
        const logger = spyLogger();
        opened.push(createDatabase({ config: load({ DATABASE_URL: URL, DB_POOL_SIZE: '5' }), logger }));
        expect(logger.warn.callCount).to.equal(0);
      });
    });
  });

  describe('redaction', () => {
    const secrets = ['pw-Secret-123', 'ssh-Pass-456', 'phrase-789', ...KEY_LINES];
    const config = () =>
      load({
        DATABASE_URL: URL,
        DATABASE_REPLICA_URLS: 'postgres://app:pw-Secret-123@replica/appdb',
        DB_SSH_HOST: 'bastion',
        DB_SSH_USER: 'tunnel',
        DB_SSH_PRIVATE_KEY: KEY,
        DB_SSH_PASSPHRASE: 'phrase-789',
        DB_SSH_PASSWORD: 'ssh-Pass-456',
      });

    it('String(), JSON.stringify and util.inspect never show a secret', () => {
      const c = config();
      for (const text of [String(c), `${c as unknown as string}`, JSON.stringify(c), inspect(c, { depth: 10 })]) {
        for (const secret of secrets) expect(text).not.to.contain(secret);
        expect(text).to.contain('bastion');
      }
    });

    it('spreading or walking the config does not reach a secret either', () => {
      const c = config();
      const walked = JSON.stringify({ ...c, connection: { ...c.connection }, ssh: { ...c.ssh } });
      for (const secret of secrets) expect(walked).not.to.contain(secret);
      expect(Object.keys(c)).not.to.include('secrets');
    });

    it('keeps the secrets reachable for the code that needs them', () => {
      const c = config();
      expect(c.connection?.password).to.equal('pw-Secret-123');
      expect(c.ssh?.passphrase).to.equal('phrase-789');
      expect(c.secrets).to.include.members(['pw-Secret-123', 'ssh-Pass-456', 'phrase-789']);
    });

    it('is frozen', () => {
      expect(Object.isFrozen(config())).to.equal(true);
    });
  });
});
