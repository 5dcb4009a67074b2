/**
 * Secrets by meaning, not by format (real PostgreSQL): a password hash of any format, and any
 * column the application marks secret, never appears in a log line or in an error (message,
 * detail, JSON, util.inspect with its cause); passwords in SQL text are masked; logged values are
 * bounded; a logger that throws never changes an operation's outcome.
 */
import { randomBytes, scryptSync } from 'node:crypto';
import { inspect } from 'node:util';
import { expect } from 'chai';
import { sql, type Generated } from 'kysely';
import {
  CheckViolationError,
  ConflictError,
  createDatabase,
  loadConfig,
  migrateToLatest,
  Repository,
  UserRepository,
  type Database,
  type DB,
  type Logger,
  type LogMeta,
  type PasswordHasher,
} from '../../lib/index.js';
import { rejection } from '../support/spec-helpers.js';
import { createScratchDatabase } from '../support/test-server.js';

interface ApiTokens {
  id: Generated<number>;
  label: string;
  token: string;
}
interface SecretsDB extends DB {
  apiTokens: ApiTokens;
}

/** Every line written to it, as one JSON text each (message and fields). */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const write = (level: string) => (message: string, meta?: LogMeta) => {
    lines.push(JSON.stringify({ level, message, ...meta }));
  };
  return { lines, error: write('error'), warn: write('warn'), info: write('info'), debug: write('debug') };
}

/**
 * A real scrypt hasher that writes its hashes in a chosen format, and remembers the salt and
 * digest text of each so a spec can look for them anywhere.
 */
function formatHasher(format: (salt: string, digest: string) => string): PasswordHasher & { parts: string[] } {
  const parts: string[] = [];
  const digestOf = (password: string, salt: string): string =>
    scryptSync(password, salt, 32, { N: 1024 }).toString('base64').replace(/=+$/, '');
  return {
    parts,
    hash: (password) => {
      const salt = randomBytes(16).toString('base64').replace(/=+$/, '');
      const digest = digestOf(password, salt);
      parts.push(salt, digest);
      return Promise.resolve(format(salt, digest));
    },
    verify: (password, hash) => {
      const salt = parts.find((part) => hash.includes(part));
      return Promise.resolve(salt !== undefined && hash.includes(digestOf(password, salt)));
    },
    needsRehash: () => false,
  };
}

// (the hashes are real scrypt output; only the text around them differs)
const FORMATS: Record<string, (salt: string, digest: string) => string> = {
  argon2id: (s, d) => `$argon2id$v=19$m=65536,t=3,p=4$${s}$${d}`,
  scrypt: (s, d) => `$scrypt$ln=10,r=8,p=1$${s}$${d}`,
  'pbkdf2 (Django)': (s, d) => `pbkdf2_sha256$600000$${s}$${d}`,
  'a format nobody knows': (s, d) => `v7:${s}:${d}`,
};

/** Where a leak would show: message, detail, JSON and util.inspect (which prints the cause). */
function errorText(error: Error): string {
  return [
    error.message,
    String((error as { detail?: unknown }).detail),
    JSON.stringify(error),
    inspect(error, { depth: 6 }),
  ].join('\n');
}

describe('secrets by meaning (real PostgreSQL)', function () {
  this.timeout(60_000);
  let target: { url: string; drop(): Promise<void> };
  let database: Database<SecretsDB>;
  let logger: Logger & { lines: string[] };

  before(async () => {
    target = await createScratchDatabase('kr_secrets');
    logger = recordingLogger();
    database = createDatabase<SecretsDB>({
      config: loadConfig(
        { DATABASE_URL: target.url, DB_ECHO_SQL: 'true', DB_SLOW_QUERY_MS: '1' },
        { envFile: '/dev/null' },
      ),
      logger,
    });
    await migrateToLatest(database.db);
    // a rule of the application's own that a row can break after validation passed
    await sql`alter table users add constraint spec_not_blocked check (email <> 'blocked@example.com')`.execute(
      database.db,
    );
    await sql`create table api_tokens (id int generated always as identity primary key, label text not null
      check (label <> 'refused'), token text not null unique)`.execute(database.db);
  });

  after(async () => {
    await database?.close();
    await target?.drop();
  });

  for (const [name, format] of Object.entries(FORMATS)) {
    it(`a hash in ${name} format from an injected hasher is in no log line and no error`, async () => {
      const hasher = formatHasher(format);
      const users = new UserRepository(database.db, { hasher });
      const tag = name.replace(/[^a-z]/g, '').slice(0, 10);
      const user = await users.createUser({
        username: `u_${tag}`,
        email: `${tag}@example.com`,
        password: 'hunter2hunter2',
      });
      expect(await users.verifyPassword(`u_${tag}`, 'hunter2hunter2')).to.deep.include({ id: user.id });
      await users.changePassword(user.id, 'hunter2hunter2', 'hunter3hunter3');
      // a check violation: PostgreSQL's detail carries the failing row, hash included
      const failed = await rejection(
        users.createUser({ username: `b_${tag}`, email: 'blocked@example.com', password: 'hunter2hunter2' }),
      );
      expect(failed).to.be.instanceOf(CheckViolationError);
      expect((failed as CheckViolationError).detail).to.match(/^Failing row contains \(.*\*\*\*.*\)\.$/);
      const updated = await rejection(users.updateUser(user.id, { email: 'blocked@example.com' }));
      expect(updated).to.be.instanceOf(CheckViolationError);
      const texts = [errorText(failed), errorText(updated), ...logger.lines];
      expect(hasher.parts.length).to.be.greaterThan(0);
      for (const part of hasher.parts) for (const text of texts) expect(text).not.to.include(part);
    });
  }

  it('columns the application marks secret are masked in echo lines and failing-row details', async () => {
    const tokens = new Repository(database.db, 'apiTokens', { secretColumns: ['token'] });
    const token = `tok_${randomBytes(12).toString('hex')}`;
    const other = `tok_${randomBytes(12).toString('hex')}`;
    await tokens.create({ label: 'ci', token });
    await tokens.createMany([
      { label: 'a', token: other },
      { label: 'b', token: `${other}b` },
    ]);
    await tokens.findOne({ token });
    await tokens.updateMany({ token }, { token: `${token}2` });
    const refused = await rejection(tokens.create({ label: 'refused', token: `${token}3` }));
    expect(refused).to.be.instanceOf(CheckViolationError);
    expect((refused as CheckViolationError).detail).to.equal('Failing row contains (4, refused, ***).');
    // a value holding ", " makes the row ambiguous: then no value of it is shown
    const ambiguous = await rejection(tokens.create({ label: 'refused', token: `${token}, 4` }));
    expect((ambiguous as CheckViolationError).detail).not.to.include(token);
    const clash = await rejection(tokens.create({ label: 'dup', token: other }));
    expect((clash as Error & { detail?: string }).detail).to.equal('Key (token)=(***): value hidden');
    for (const text of [errorText(refused), errorText(ambiguous), errorText(clash), ...logger.lines]) {
      expect(text).not.to.include(token);
      expect(text).not.to.include(other);
    }
    // the label, not secret, is still shown
    expect(logger.lines.join('\n')).to.include('refused');
  });

  it('passwords inside SQL text are masked in echo, slow-query and failure lines', async () => {
    const before = logger.lines.length;
    const role = `kr_spec_role_${randomBytes(4).toString('hex')}`;
    const password = `Pw-${randomBytes(8).toString('hex')}`;
    await sql.raw(`create role ${role} login password '${password}'`).execute(database.db);
    await sql.raw(`alter role ${role} with encrypted password '${password}x'`).execute(database.db);
    // a failing statement: the failure line is logged by default
    await rejection(sql.raw(`create role ${role} password '${password}y'`).execute(database.db));
    await sql.raw(`drop role ${role}`).execute(database.db);
    const lines = logger.lines.slice(before);
    expect(lines.some((line) => line.includes('query failed'))).to.equal(true);
    expect(lines.some((line) => line.includes("password '***'"))).to.equal(true);
    for (const line of lines) expect(line).not.to.include(password);
  });

  it('each logged value is capped, with its length', async () => {
    const before = logger.lines.length;
    const big = 'x'.repeat(1024 * 1024);
    await sql`select length(${big}) as n`.execute(database.db);
    const lines = logger.lines.slice(before);
    expect(lines.length).to.be.greaterThan(0);
    for (const line of lines) expect(line.length).to.be.lessThan(10_000);
    expect(lines.join('\n')).to.include(`[${big.length} chars]`);
  });

  it('a logger that throws never changes an outcome: the write stands, the retry is a ConflictError, failures are counted', async () => {
    const throwing: Logger = {
      error: () => {
        throw new Error('disk full');
      },
      warn: () => {
        throw new Error('disk full');
      },
      info: () => {
        throw new Error('disk full');
      },
      debug: () => {
        throw new Error('disk full');
      },
    };
    const users = new UserRepository(database.db, { logger: throwing, policy: { bcryptCost: 4 } });
    const failuresBefore = database.status().logFailures;
    const created = await users.createUser({ username: 'loud', email: 'loud@example.com', password: 'hunter2hunter2' });
    expect(created.username).to.equal('loud');
    const again = await rejection(
      users.createUser({ username: 'loud', email: 'loud2@example.com', password: 'hunter2hunter2' }),
    );
    expect(again).to.be.instanceOf(ConflictError);
    expect(database.status().logFailures).to.be.greaterThan(failuresBefore);

    // the Database's own logger throwing: statements still succeed, each failure is counted
    const noisy = createDatabase<SecretsDB>({
      config: loadConfig({ DATABASE_URL: target.url, DB_ECHO_SQL: 'true' }, { envFile: '/dev/null' }),
      logger: throwing,
      log: () => {
        throw new Error('hook broke');
      },
    });
    try {
      const rows = await sql<{ one: number }>`select 1 as one`.execute(noisy.db);
      expect(rows.rows).to.deep.equal([{ one: 1 }]);
      expect(await new Repository(noisy.db, 'apiTokens').count()).to.be.a('number');
      expect(noisy.status().logFailures).to.be.greaterThanOrEqual(2);
    } finally {
      await noisy.close();
    }
  });
});
