/**
 * loadConfig and secrets: no description of a config, and no ConfigError (message or cause),
 * carries a password, a passphrase, key text or the cursor secret, wherever it was given; an SSH
 * key that cannot be used is a ConfigError at load time, not a failure at the first query.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { CONFIG_VARIABLES, ConfigError, loadConfig, type DatabaseConfig } from '../../lib/index.js';

const PASSWORD = 'Query-Pass-8d2f71';
const SSL_PASSWORD = 'Ssl-Pass-3c9e05';
const PASSPHRASE = 'Key-Phrase-6b41aa';
const CURSOR_SECRET = 'cursor-secret-0123456789abcdef-XYZ';

let dir: string;
/** Real OpenSSH keys made by ssh-keygen for this run. */
const keys = { plain: '', encrypted: '', encryptedPem: '', plainPath: '', encryptedPath: '' };

function keygen(name: string, passphrase: string, ...extra: string[]): string {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', ...extra, '-N', passphrase, '-C', 'spec', '-f', path], { stdio: 'ignore' });
  return path;
}

/** loadConfig without reading a .env from the working directory. */
function load(env: Record<string, string>): DatabaseConfig {
  return loadConfig(env, { envFile: '/dev/null' });
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

/** Everything an error shows when logged or printed: message, cause chain, own properties. */
function everything(error: unknown): string {
  const parts: string[] = [String(error), inspect(error, { depth: 10, showHidden: true })];
  for (let e: unknown = error; e instanceof Error; e = e.cause) parts.push(e.message, String(e.stack));
  return parts.join('\n');
}

/** The ways a config is described. */
function descriptions(config: DatabaseConfig): string[] {
  return [String(config), `${config as unknown as string}`, JSON.stringify(config), inspect(config, { depth: 10 })];
}

/** The base64 body of a key, a line at a time (to check that no piece of it is shown). */
function keyLines(key: string): string[] {
  return key.split('\n').filter((line) => line.length > 20 && !line.startsWith('-----'));
}

function expectNoSecret(text: string, secrets: readonly string[]): void {
  for (const secret of secrets) expect(text).not.to.contain(secret);
}

describe('loadConfig: secrets', () => {
  before(function () {
    this.timeout(60_000);
    dir = mkdtempSync(join(tmpdir(), 'kr-config-secrets-'));
    keys.plainPath = keygen('plain', '', '-t', 'ed25519');
    keys.encryptedPath = keygen('encrypted', PASSPHRASE, '-t', 'ed25519');
    keys.plain = readFileSync(keys.plainPath, 'utf8');
    keys.encrypted = readFileSync(keys.encryptedPath, 'utf8');
    keys.encryptedPem = readFileSync(
      keygen('encrypted-pem', PASSPHRASE, '-t', 'rsa', '-b', '2048', '-m', 'PEM'),
      'utf8',
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('passwords in DATABASE_URL query parameters', () => {
    it('uses ?password= and never shows it in String(), JSON, util.inspect or redactedUrl', () => {
      const config = load({ DATABASE_URL: `postgres://app@db.internal/appdb?password=${PASSWORD}` });
      expect(config.connection?.password).to.equal(PASSWORD);
      for (const text of descriptions(config)) {
        expect(text).not.to.contain(PASSWORD);
        expect(text).to.contain('db.internal');
      }
      expect(config.connection?.redactedUrl).not.to.contain(PASSWORD);
      expect(config.connection?.redactedUrl).to.contain('password=***');
    });

    it('masks sslpassword (and any other secret parameter) as well', () => {
      const config = load({
        DATABASE_URL: `postgres://app@db.internal/appdb?sslpassword=${SSL_PASSWORD}&application_secret=${PASSWORD}`,
      });
      for (const text of [...descriptions(config), config.connection?.redactedUrl ?? '']) {
        expectNoSecret(text, [SSL_PASSWORD, PASSWORD]);
      }
    });

    it('masks ?password= in DATABASE_REPLICA_URLS', () => {
      const config = load({
        DATABASE_URL: 'postgres://app@primary/appdb',
        DATABASE_REPLICA_URLS: `postgres://app@replica1/appdb?password=${PASSWORD}, postgres://app:${SSL_PASSWORD}@replica2/appdb`,
      });
      expect(config.replicas.map((r) => r.password)).to.deep.equal([PASSWORD, SSL_PASSWORD]);
      for (const text of [...descriptions(config), ...config.replicas.map((r) => r.redactedUrl)]) {
        expectNoSecret(text, [PASSWORD, SSL_PASSWORD]);
      }
    });

    it('lists the ?password= value (and its URL-encoded form) among the secrets for log redaction', () => {
      const encoded = 'p%40ss-word-42';
      const config = load({
        DATABASE_URL: `postgres://app@db/appdb?password=${PASSWORD}&sslpassword=${SSL_PASSWORD}`,
        DATABASE_REPLICA_URLS: `postgres://app:${encoded}@replica/appdb`,
      });
      expect(config.secrets).to.include.members([PASSWORD, SSL_PASSWORD, 'p@ss-word-42', encoded]);
    });

    it('masks ?password= in the ConfigError of an otherwise bad URL', () => {
      const error = configError(() => load({ DATABASE_URL: `postgres://app@db:0/appdb?password=${PASSWORD}` }));
      expect(error.variable).to.equal('DATABASE_URL');
      expectNoSecret(everything(error), [PASSWORD]);
      expect(error.message).to.contain('password=***');
    });
  });

  describe('URLs that cannot be parsed are never echoed', () => {
    const cases: [string, string, RegExp][] = [
      [
        'a scheme typo',
        `postgres//app:${PASSWORD}@db/appdb`,
        /must start with postgres:\/\/ or postgresql:\/\/ or pglite:\/\//,
      ],
      ['a scheme without slashes', `postgres:app:${PASSWORD}@db/appdb`, /must start with postgres:\/\//],
      ['another scheme', `mysql://app:${PASSWORD}@db/appdb`, /must start with .*\(it starts with "mysql:\/\/"\)/],
      ['a broken host', `postgres://app:${PASSWORD}@[db/appdb`, /DATABASE_URL is not a valid postgres:\/\/ URL/],
      ['a lone surrogate and a space', `postgres://app:${PASSWORD}\uD800 x@db/appdb`, /not a valid postgres:\/\/ URL/],
      ['a pglite URL with a path that is not absolute', `pglite:${PASSWORD}`, /pglite:\/\/\/absolute\/dir/],
    ];
    for (const [what, url, says] of cases) {
      it(`DATABASE_URL with ${what}`, () => {
        const error = configError(() => load({ DATABASE_URL: url }));
        expect(error.variable).to.equal('DATABASE_URL');
        expect(error.message).to.match(says);
        expect(error.allowed).to.equal(CONFIG_VARIABLES.DATABASE_URL.allowed);
        expectNoSecret(everything(error), [PASSWORD, url]);
      });
    }

    it('DATABASE_REPLICA_URLS with a scheme typo', () => {
      const error = configError(() =>
        load({ DATABASE_URL: 'postgres://app@db/appdb', DATABASE_REPLICA_URLS: `postgresql//app:${PASSWORD}@r/appdb` }),
      );
      expect(error.variable).to.equal('DATABASE_REPLICA_URLS');
      expect(error.message).to.match(/must start with postgres:\/\/ or postgresql:\/\//);
      expectNoSecret(everything(error), [PASSWORD]);
    });

    it('an sslkey parameter holding key text instead of a path', () => {
      const key = keyLines(keys.plain)[0]!;
      const error = configError(() =>
        load({ DATABASE_URL: `postgres://app@db/appdb?sslmode=require&sslkey=${encodeURIComponent(key)}` }),
      );
      expect(error.variable).to.equal('DATABASE_URL');
      expect(error.message).to.contain('sslkey');
      expectNoSecret(everything(error), [key]);
    });
  });

  describe('SSH keys are parsed by loadConfig', () => {
    const ssh = { DATABASE_URL: 'postgres://app@db/appdb', DB_SSH_HOST: 'bastion', DB_SSH_USER: 'tunnel' };

    it('accepts a real key, inline or from a file, and an encrypted one with its passphrase', () => {
      expect(load({ ...ssh, DB_SSH_PRIVATE_KEY: keys.plain }).ssh?.privateKey).to.equal(keys.plain.trim());
      expect(load({ ...ssh, DB_SSH_PRIVATE_KEY_PATH: keys.plainPath }).ssh?.privateKey).to.equal(keys.plain);
      const encrypted = load({ ...ssh, DB_SSH_PRIVATE_KEY_PATH: keys.encryptedPath, DB_SSH_PASSPHRASE: PASSPHRASE });
      expect(encrypted.ssh?.passphrase).to.equal(PASSPHRASE);
      const pem = load({ ...ssh, DB_SSH_PRIVATE_KEY: keys.encryptedPem, DB_SSH_PASSPHRASE: PASSPHRASE });
      expect(pem.ssh?.privateKey).to.equal(keys.encryptedPem.trim());
    });

    it('a corrupt DB_SSH_PRIVATE_KEY is a ConfigError that does not quote it', () => {
      const lines = keys.plain.trim().split('\n');
      const corrupt = [lines[0], lines[1], lines.at(-1)].join('\n');
      const error = configError(() => load({ ...ssh, DB_SSH_PRIVATE_KEY: corrupt }));
      expect(error.variable).to.equal('DB_SSH_PRIVATE_KEY');
      expect(error.allowed).to.equal(CONFIG_VARIABLES.DB_SSH_PRIVATE_KEY.allowed);
      expectNoSecret(everything(error), keyLines(keys.plain));
    });

    it('a corrupt key file at DB_SSH_PRIVATE_KEY_PATH is a ConfigError naming the path, not the key', () => {
      const lines = keys.plain.trim().split('\n');
      const path = join(dir, 'corrupt');
      writeFileSync(path, [lines[0], ...lines.slice(1, -1).reverse(), lines.at(-1)].join('\n'));
      const error = configError(() => load({ ...ssh, DB_SSH_PRIVATE_KEY_PATH: path }));
      expect(error.variable).to.equal('DB_SSH_PRIVATE_KEY_PATH');
      expect(error.message).to.contain(path);
      expectNoSecret(everything(error), keyLines(keys.plain));
    });

    it('an encrypted key without DB_SSH_PASSPHRASE is a ConfigError naming DB_SSH_PASSPHRASE', () => {
      const error = configError(() => load({ ...ssh, DB_SSH_PRIVATE_KEY_PATH: keys.encryptedPath }));
      expect(error.variable).to.equal('DB_SSH_PASSPHRASE');
      expect(error.message).to.contain('DB_SSH_PASSPHRASE').and.contain('encrypted');
      expectNoSecret(everything(error), keyLines(keys.encrypted));
    });

    it('a wrong DB_SSH_PASSPHRASE is a ConfigError that shows neither the passphrase nor the key', () => {
      const wrong = 'Wrong-Phrase-0c7d3e';
      for (const env of [
        { ...ssh, DB_SSH_PRIVATE_KEY_PATH: keys.encryptedPath, DB_SSH_PASSPHRASE: wrong },
        { ...ssh, DB_SSH_PRIVATE_KEY: keys.encrypted, DB_SSH_PASSPHRASE: wrong },
        { ...ssh, DB_SSH_PRIVATE_KEY: keys.encryptedPem, DB_SSH_PASSPHRASE: wrong },
      ]) {
        const error = configError(() => load(env));
        expect(error.variable).to.equal('DB_SSH_PASSPHRASE');
        expect(error.allowed).to.equal(CONFIG_VARIABLES.DB_SSH_PASSPHRASE.allowed);
        expectNoSecret(everything(error), [
          wrong,
          PASSPHRASE,
          ...keyLines(keys.encrypted),
          ...keyLines(keys.encryptedPem),
        ]);
      }
    });

    it('key text given as DB_SSH_PRIVATE_KEY_PATH is a ConfigError that does not quote it', () => {
      const error = configError(() => load({ ...ssh, DB_SSH_PRIVATE_KEY_PATH: keys.plain }));
      expect(error.variable).to.equal('DB_SSH_PRIVATE_KEY_PATH');
      expectNoSecret(everything(error), keyLines(keys.plain));
    });

    it('String(), JSON and util.inspect show neither the key, nor its passphrase, nor DB_SSH_PASSWORD', () => {
      const config = load({
        ...ssh,
        DB_SSH_PRIVATE_KEY: keys.encrypted,
        DB_SSH_PASSPHRASE: PASSPHRASE,
        DB_SSH_PASSWORD: SSL_PASSWORD,
      });
      for (const text of descriptions(config)) {
        expectNoSecret(text, [PASSPHRASE, SSL_PASSWORD, ...keyLines(keys.encrypted)]);
        expect(text).to.contain('bastion');
      }
      expect(config.secrets).to.include.members([PASSPHRASE, SSL_PASSWORD, keys.encrypted.trim()]);
    });
  });

  describe('DB_CURSOR_SECRET', () => {
    const base = { DATABASE_URL: 'postgres://app@db/appdb' };

    it('is read into cursorSecret, shown only as set or unset, and listed among the secrets', () => {
      const config = load({ ...base, DB_CURSOR_SECRET: CURSOR_SECRET });
      expect(config.cursorSecret).to.equal(CURSOR_SECRET);
      expect(config.secrets).to.include(CURSOR_SECRET);
      for (const text of descriptions(config)) {
        expect(text).not.to.contain(CURSOR_SECRET);
        expect(text).to.match(/cursorSecret\W+set/);
      }
      const walked = JSON.stringify({ ...config });
      expect(walked).not.to.contain(CURSOR_SECRET);
      expect(Object.keys(config)).not.to.include('cursorSecret');
    });

    it('is optional', () => {
      const config = load(base);
      expect(config.cursorSecret).to.equal(undefined);
      expect(JSON.stringify(config)).to.match(/"cursorSecret":"unset"/);
    });

    it('shorter than 32 characters is a ConfigError that names it and does not show it', () => {
      const short = 'short-cursor-secret-31-chars-xx';
      expect(short).to.have.length(31);
      const error = configError(() => load({ ...base, DB_CURSOR_SECRET: short }));
      expect(error.variable).to.equal('DB_CURSOR_SECRET');
      expect(error.message).to.contain('DB_CURSOR_SECRET').and.contain('32');
      expect(error.allowed).to.contain('32');
      expectNoSecret(everything(error), [short]);
      expect(load({ ...base, DB_CURSOR_SECRET: `${short}y` }).cursorSecret).to.have.length(32);
    });
  });

  describe('sslmode', () => {
    it('an sslmode libpq does not know (a typo) is a ConfigError, not silently full verification', () => {
      for (const mode of ['verfy-full', 'bogus', 'true']) {
        expect(() => load({ DATABASE_URL: `postgres://u@h/db?sslmode=${mode}` }))
          .to.throw(ConfigError)
          .with.property('variable', 'DATABASE_URL');
      }
      for (const mode of ['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify']) {
        expect(load({ DATABASE_URL: `postgres://u@h/db?sslmode=${mode}` }).connection?.host).to.equal('h');
      }
    });
  });
});
