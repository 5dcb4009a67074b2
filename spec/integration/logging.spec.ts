import { expect } from 'chai';
import bcrypt from 'bcrypt';
import sinon from 'sinon';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import { sql } from 'kysely';
import winston from 'winston';
import { createDatabase, createLogger, loadConfig, redactingLogger, type Logger } from '../../lib/index.js';
import { freePort } from '../support/free-port.js';
import { testDatabaseUrl } from '../support/test-server.js';
import { spyLogger } from '../support/spec-helpers.js';

/** A winston logger (JSON lines, debug level) whose output is kept in `lines`. */
function capturingLogger(): { logger: winston.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return {
    logger: createLogger({ level: 'debug', format: 'json', transports: [new winston.transports.Stream({ stream })] }),
    lines,
  };
}

function withPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('logging (real PostgreSQL)', () => {
  it('a realistic flow with DB_ECHO_SQL on logs timings, slow queries and errors, and no secret in any line', async () => {
    const dbPassword = 'Db-Pass-7c1e9a';
    const sshPassphrase = 'Ssh-Phrase-51ab';
    const userPassword = 'correct horse battery staple';
    const hash = await bcrypt.hash(userPassword, 4);
    const privateKey =
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQy\n-----END OPENSSH PRIVATE KEY-----';
    const url = withPassword(testDatabaseUrl(), dbPassword);
    const { logger, lines } = capturingLogger();

    const config = loadConfig(
      { DATABASE_URL: url, DB_ECHO_SQL: 'true', DB_SLOW_QUERY_MS: '50', DB_SSH_PASSPHRASE: sshPassphrase },
      { envFile: '/dev/null', logger },
    );
    const database = createDatabase<Record<string, never>>({ config, logger });
    const db = database.db;
    try {
      // an application logging its own config and objects
      database.logger.info('starting', { config, url, passwordHash: hash });
      database.logger.info(`config is ${String(config)}; inspect: ${inspect(config)}`);

      await sql`create table log_accounts (
        id int primary key,
        username text not null unique,
        password_hash text not null check (length(password_hash) = 60),
        ssh_key text
      )`.execute(db);
      await sql`insert into log_accounts values (1, ${'ada'}, ${hash}, ${privateKey})`.execute(db);
      await sql`select * from log_accounts where username = ${'ada'}`.execute(db);
      await sql`update log_accounts set password_hash = ${hash} where id = ${1}`.execute(db);
      await sql`select pg_sleep(0.08)`.execute(db);
      // failing statements: the check violation's DETAIL carries the row, hash included
      await sql`insert into log_accounts values (2, ${'bob'}, ${hash + 'x'}, null)`.execute(db).catch(() => undefined);
      await sql`insert into log_accounts values (3, ${'ada'}, ${hash}, null)`.execute(db).catch(() => undefined);
      // an unreachable server, with the password in its URL
      const port = await freePort();
      const down = createDatabase({
        config: loadConfig(
          { DATABASE_URL: `postgres://postgres:${dbPassword}@127.0.0.1:${port}/x`, DB_POOL_TIMEOUT: '2000' },
          { envFile: '/dev/null' },
        ),
        logger,
      });
      await down.health();
      await sql`select 1`.execute(down.db).catch((error: unknown) => database.logger.error('query failed', { error }));
      await down.close();
    } finally {
      await sql`drop table if exists log_accounts`.execute(db);
      await database.close();
    }
    await flush();

    const output = lines.join('');
    expect(lines.length).to.be.at.least(10);
    // what must be there
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const echoed = records.find(
      (r) => r['message'] === 'query' && String(r['sql']).startsWith('insert into log_accounts'),
    );
    expect(echoed?.['parameters']).to.deep.equal(['ada', '[password hash]', '[private key]']);
    expect(echoed?.['durationMs']).to.be.a('number');
    const slow = records.find((r) => r['message'] === 'slow query');
    expect(slow).to.include({ level: 'warn' });
    expect(slow?.['durationMs']).to.be.at.least(50);
    const failed = records.filter((r) => r['message'] === 'query failed' && r['code']);
    expect(failed.map((r) => r['code'])).to.include.members(['23514', '23505']);
    expect(failed.every((r) => typeof r['sql'] === 'string')).to.equal(true);
    // what must never be there
    for (const secret of [
      dbPassword,
      sshPassphrase,
      userPassword,
      hash,
      hash.slice(7),
      'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ',
      url,
      '$2b$',
      '$2a$',
    ]) {
      expect(output, `log output contains ${secret.slice(0, 8)}…`).not.to.contain(secret);
    }
  });

  it('redacts the lines of any injected logger, child loggers included', () => {
    const inner: Logger = spyLogger(sinon);
    const logger = redactingLogger(inner, ['topsecret-value']);
    logger.info('url postgres://u:topsecret-value@h/db', { nested: { list: ['topsecret-value'] } });
    logger.child?.({ a: 1 }).warn('password=hunter2 and $2b$10$abcdefghijklmnopqrstuuJ0ZJDkEwlsJYVHzyS1pHCX6wRMK0G/W');
    const seen = JSON.stringify([(inner.info as sinon.SinonSpy).args, (inner.warn as sinon.SinonSpy).args]);
    expect(seen).not.to.contain('topsecret-value');
    expect(seen).not.to.contain('hunter2');
    expect(seen).not.to.contain('$2b$10$');
  });
});
