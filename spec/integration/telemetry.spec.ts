/**
 * OpenTelemetry from the package itself, with the real SDK registered as an application registers
 * it (in-memory span exporter, a metric reader, AsyncLocalStorage contexts), against real
 * PostgreSQL: the tree of spans for a transaction with a savepoint and a retry, the attributes of
 * a failing statement, the application's span as the parent through pipelining, the connection
 * metrics, and no value, name, e-mail or password in any attribute.
 */
import { expect } from 'chai';
import { sql, type Generated, type Kysely } from 'kysely';
import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import {
  createDatabase,
  loadConfig,
  migrateToLatest,
  PoolTimeoutError,
  Repository,
  silentLogger,
  UniqueViolationError,
  UserRepository,
  ValidationError,
  withTransaction,
  type Database,
  type DB,
} from '../../lib/index.js';
import { exportedStrings, installOtel, parentOf, type InstalledOtel } from '../support/otel.js';
import { createScratchDatabase } from '../support/test-server.js';

interface OtelDB extends DB {
  otelOrders: { id: Generated<number>; code: string; total: number };
}

const SCOPE = 'kysely-repository';

/** The package's spans of one trace, by id. */
function ours(spans: ReadableSpan[]): ReadableSpan[] {
  return spans.filter((span) => span.instrumentationScope.name === SCOPE);
}

function childrenOf(spans: ReadableSpan[], parent: ReadableSpan): ReadableSpan[] {
  return spans.filter((span) => parentOf(span) === parent.spanContext().spanId);
}

/** Whether `ancestor` is above `span` in `spans`' tree. */
function isUnder(spans: ReadableSpan[], span: ReadableSpan, ancestor: ReadableSpan): boolean {
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  for (let at = parentOf(span); at !== undefined; at = byId.get(at) && parentOf(byId.get(at)!)) {
    if (at === ancestor.spanContext().spanId) return true;
  }
  return false;
}

function durationMs(span: ReadableSpan): number {
  return span.duration[0] * 1e3 + span.duration[1] / 1e6;
}

describe('OpenTelemetry (real SDK, real PostgreSQL)', function () {
  this.timeout(30_000);
  let otel: InstalledOtel;
  let target: { url: string; drop(): Promise<void> };
  let database: Database<OtelDB>;
  let orders: Repository<OtelDB, 'otelOrders'>;

  before(async () => {
    otel = installOtel();
    target = await createScratchDatabase('kr_otel');
    database = createDatabase<OtelDB>({
      config: loadConfig({ DATABASE_URL: target.url, DB_POOL_SIZE: '4' }, { envFile: '/dev/null' }),
      logger: silentLogger,
    });
    await sql`create table otel_orders (id serial primary key, code text not null unique, total integer not null check (total >= 0))`.execute(
      database.db,
    );
    orders = new Repository(database.db, 'otelOrders');
  });

  after(async () => {
    await otel?.uninstall();
    await database?.close();
    await target?.drop();
  });

  beforeEach(() => otel.reset());

  it('a transaction with a savepoint and a retry: application span > transaction > attempts > calls > statements', async () => {
    let attempts = 0;
    await otel.tracer.startActiveSpan('handle request', async (request) => {
      await withTransaction(
        database.db,
        async () => {
          attempts++;
          await orders.create({ code: `tree-${attempts}`, total: 5 });
          await withTransaction(database.db, async () => {
            await orders.count();
          });
          // the server refuses the first attempt as a serialization failure would
          if (attempts === 1)
            await sql`do $$ begin raise exception using errcode = '40001'; end $$`.execute(database.db);
        },
        { isolationLevel: 'repeatable read', retries: 1 },
      );
      request.end();
    });
    const spans = otel.spans();
    const request = spans.find((span) => span.name === 'handle request')!;
    const [transaction, ...others] = childrenOf(spans, request);
    expect(others).to.deep.equal([]);
    expect(transaction!.name).to.equal('transaction');
    expect(transaction!.attributes).to.include({
      'kysely_repository.transaction.isolation_level': 'repeatable read',
      'kysely_repository.transaction.outcome': 'committed',
    });
    const attemptSpans = childrenOf(spans, transaction!);
    expect(
      attemptSpans.map((span) => [span.name, span.attributes['kysely_repository.transaction.attempt']]),
    ).to.deep.equal([
      ['transaction attempt', 1],
      ['transaction attempt', 2],
    ]);
    const [first, second] = attemptSpans as [ReadableSpan, ReadableSpan];
    expect(first.attributes['kysely_repository.transaction.outcome']).to.equal('retried');
    expect(first.attributes['error.type']).to.equal('40001');
    expect(first.status.code).to.equal(2);
    expect(second.attributes['kysely_repository.transaction.outcome']).to.equal('committed');

    // the second attempt: its checkout, BEGIN, the create with its INSERT, the savepoint around the count, COMMIT
    const under = spans.filter((span) => isUnder(spans, span, second));
    const names = under.map((span) => span.name);
    expect(names).to.include.members([
      'acquire connection',
      'START',
      'Repository.create otel_orders',
      'INSERT otel_orders',
      'savepoint',
      'SAVEPOINT',
      'Repository.count otel_orders',
      'RELEASE',
      'COMMIT',
    ]);
    const savepoint = under.find((span) => span.name === 'savepoint')!;
    expect(childrenOf(spans, savepoint).map((span) => span.name)).to.have.members([
      'SAVEPOINT',
      'Repository.count otel_orders',
      'RELEASE',
    ]);
    expect(savepoint.attributes['kysely_repository.transaction.outcome']).to.equal('released');
    const insert = under.find((span) => span.name === 'INSERT otel_orders')!;
    expect(parentOf(insert)).to.equal(
      under.find((span) => span.name === 'Repository.create otel_orders')!.spanContext().spanId,
    );
    // the first attempt's failing statement, and its ROLLBACK
    const failed = spans.filter(
      (span) => isUnder(spans, span, first) && span.attributes['db.response.status_code'] === '40001',
    );
    expect(failed.map((span) => span.name)).to.deep.equal(['DO']);
    expect(spans.filter((span) => isUnder(spans, span, first)).map((span) => span.name)).to.include('ROLLBACK');
    // every span of the package is in this one trace
    expect(new Set(ours(spans).map((span) => span.spanContext().traceId))).to.deep.equal(
      new Set([request.spanContext().traceId]),
    );
  });

  it('a failing statement: SQLSTATE, error type, server, summary and parameterized text; never the message or a value', async () => {
    await orders.create({ code: 'taken', total: 1 });
    otel.reset();
    const error = await orders.create({ code: 'taken', total: 2 }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(UniqueViolationError);
    const statement = otel.spans().find((span) => span.attributes['db.response.status_code'] === '23505')!;
    const url = new URL(target.url);
    expect(statement.kind).to.equal(SpanKind.CLIENT); // CLIENT
    expect(statement.name).to.equal('INSERT otel_orders');
    expect(statement.attributes).to.deep.include({
      'db.system.name': 'postgresql',
      'db.namespace': url.pathname.slice(1),
      'db.operation.name': 'INSERT',
      'db.collection.name': 'otel_orders',
      'db.query.summary': 'INSERT otel_orders',
      'db.response.status_code': '23505',
      'error.type': '23505',
      'server.address': url.hostname,
      'server.port': Number(url.port || 5432),
    });
    expect(statement.attributes['db.query.text']).to.match(
      /^insert into "otel_orders" \("code", "total"\) values \(\$1, \$2\)/,
    );
    expect(statement.status).to.deep.equal({ code: 2, message: '23505' });
    expect(statement.events).to.deep.equal([]);
    // the repository call's span fails the same way; nothing anywhere says 'taken' or quotes the server
    const call = otel.spans().find((span) => span.name === 'Repository.create otel_orders')!;
    expect(call.attributes['error.type']).to.equal('23505');
    const strings = otel.spans().flatMap(exportedStrings);
    expect(strings.filter((s) => s.includes('taken') || s.includes('duplicate key'))).to.deep.equal([]);

    // a value the server refuses and quotes in its message (22P02) is not in any attribute either
    otel.reset();
    await database.query('select $1::int as n', ['hostile-22P02-value']).catch(() => undefined);
    const refused = otel.spans().find((span) => span.attributes['db.response.status_code'] === '22P02')!;
    expect(refused.attributes['db.query.text']).to.equal('select $1::int as n');
    expect(
      otel
        .spans()
        .flatMap(exportedStrings)
        .filter((s) => s.includes('hostile-22P02')),
    ).to.deep.equal([]);
  });

  it("the application's span stays the parent through pipelining, and each statement is timed on the wire", async () => {
    const seeded = await orders.createMany(Array.from({ length: 8 }, (_, i) => ({ code: `pipe-${i}`, total: i })));
    otel.reset();
    // 40 lookups on a pool of 4: statements queue on busy connections (pipelining is on by default)
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        otel.tracer.startActiveSpan(`lookup ${i}`, async (span) => {
          await orders.findById(seeded[i % seeded.length]!.id);
          span.end();
        }),
      ),
    );
    const spans = otel.spans();
    for (let i = 0; i < 40; i++) {
      const root = spans.find((span) => span.name === `lookup ${i}`)!;
      const [call] = childrenOf(spans, root);
      expect(call?.name, `lookup ${i}`).to.equal('Repository.findById otel_orders');
      const statements = childrenOf(spans, call!).filter((span) => span.kind === SpanKind.CLIENT);
      expect(statements.map((span) => span.name)).to.deep.equal(['SELECT otel_orders']);
      // the statement's span lies within its call's
      const [statement] = statements as [ReadableSpan];
      expect(durationMs(statement)).to.be.at.most(durationMs(call!) + 0.01);
    }
    // pipelined statements do not count the wait behind the one ahead of them: their spans on one
    // connection do not overlap (they are answered in order), so their sum stays within the wall time
    const selects = spans.filter((span) => span.name === 'SELECT otel_orders');
    const start = Math.min(...selects.map((span) => span.startTime[0] * 1e3 + span.startTime[1] / 1e6));
    const end = Math.max(...selects.map((span) => span.endTime[0] * 1e3 + span.endTime[1] / 1e6));
    const total = selects.reduce((sum, span) => sum + durationMs(span), 0);
    expect(total, 'sum of statement spans against 4 connections × the wall time').to.be.at.most(4 * (end - start) + 1);
  });

  it("reports the conventions' metrics: operation duration, connection count, wait time, pending requests, timeouts", async () => {
    await orders.count();
    const tight = createDatabase<OtelDB>({
      config: loadConfig(
        { DATABASE_URL: target.url, DB_POOL_SIZE: '1', DB_POOL_TIMEOUT: '200' },
        { envFile: '/dev/null' },
      ),
      logger: silentLogger,
      telemetry: { poolName: 'tight' },
    });
    try {
      // the only connection held by a transaction: the next checkout times out
      const timedOut = await withTransaction(tight.db, async (trx) => {
        await sql`select 1`.execute(trx);
        return await sql`select 2`.execute(tight.db).catch((e: unknown) => e);
      });
      expect(timedOut).to.be.instanceOf(PoolTimeoutError);
      const points = await otel.collect();
      const pool = `${new URL(target.url).hostname}:${new URL(target.url).port || 5432}/${new URL(target.url).pathname.slice(1)}`;
      const of = (name: string) =>
        points.filter((p) => p.name === name && p.attributes['db.client.connection.pool.name'] === pool);
      const durations = points.filter(
        (p) => p.name === 'db.client.operation.duration' && p.attributes['db.operation.name'] === 'SELECT',
      );
      expect(durations.reduce((n, p) => n + p.value, 0)).to.be.greaterThan(0);
      expect(durations.every((p) => p.attributes['db.query.text'] === undefined)).to.equal(true);
      expect(points.find((p) => p.name === 'db.client.operation.duration')?.sum).to.be.greaterThan(0);
      expect(
        of('db.client.connection.count').map((p) => p.attributes['db.client.connection.state']),
      ).to.include.members(['idle', 'used']);
      expect(of('db.client.connection.max').map((p) => p.value)).to.deep.equal([4]);
      // a second Database on the same server and database reports under the name it was given
      const tightPool = points.filter((p) => p.attributes['db.client.connection.pool.name'] === 'tight');
      expect(tightPool.find((p) => p.name === 'db.client.connection.max')?.value).to.equal(1);
      expect(tightPool.filter((p) => p.name === 'db.client.connection.timeouts').map((p) => p.value)).to.deep.equal([
        1,
      ]);
      expect(of('db.client.connection.pending_requests').length).to.be.greaterThan(0);
      expect(of('db.client.connection.wait_time').reduce((n, p) => n + p.value, 0)).to.be.greaterThan(0);
      expect(points.some((p) => p.name === 'kysely_repository.transaction.retries')).to.equal(true);
    } finally {
      await tight.close();
    }
  });

  it('UserRepository calls have spans; no username, e-mail, password or hash in any span or metric', async () => {
    await migrateToLatest(database.db as unknown as Kysely<DB>);
    const users = new UserRepository(database.db, {
      policy: { bcryptCost: 4 },
      logger: silentLogger,
    });
    otel.reset();
    const secret = { username: 'otel_secret_user', email: 'otel.secret@example.com', password: 'otel-secret-password' };
    const user = await users.createUser(secret);
    expect(await users.verifyPassword(secret.username, secret.password)).to.not.equal(undefined);
    expect(await users.verifyPassword(secret.username, 'otel-wrong-password')).to.equal(undefined);
    await users.getUserByEmail(secret.email);
    await users.changePassword(user.id, secret.password, 'otel-next-password');
    const conflict = await users.createUser(secret).catch((e: unknown) => e);
    expect(conflict).to.be.an('error');
    const names = otel.spans().map((span) => span.name);
    expect(names).to.include.members([
      'UserRepository.createUser users',
      'UserRepository.verifyPassword users',
      'UserRepository.getUserByEmail users',
      'UserRepository.changePassword users',
    ]);
    const { rows } = await sql<{ hash: string }>`select password_hash as hash from users`.execute(database.db);
    const forbidden = [
      ...Object.values(secret),
      'otel-wrong-password',
      'otel-next-password',
      ...rows.map((r) => r.hash),
    ];
    const points = await otel.collect();
    const strings = [
      ...otel.spans().flatMap(exportedStrings),
      ...points.flatMap((p) => Object.values(p.attributes).map(String)),
    ];
    for (const value of forbidden) {
      expect(
        strings.filter((s) => s.includes(value)),
        value,
      ).to.deep.equal([]);
    }
  });

  it('masks the configured secrets in db.query.text, as log lines do', async () => {
    const url = new URL(target.url);
    url.password = 'otel-db-pass-9f2';
    const withSecret = createDatabase<OtelDB>({
      config: loadConfig({ DATABASE_URL: url.toString() }, { envFile: '/dev/null' }),
      logger: silentLogger,
    });
    try {
      otel.reset();
      await withSecret.query("select 'otel-db-pass-9f2' as leaked");
      const statement = otel.spans().find((span) => span.kind === SpanKind.CLIENT && span.name === 'SELECT')!;
      expect(statement.attributes['db.query.text']).to.not.include('otel-db-pass-9f2');
    } finally {
      await withSecret.close();
    }
  });

  it('telemetry: { enabled: false } reports nothing; queryText: false leaves the text out; bad options are named', async () => {
    const config = loadConfig({ DATABASE_URL: target.url }, { envFile: '/dev/null' });
    const off = createDatabase<OtelDB>({ config, logger: silentLogger, telemetry: { enabled: false } });
    const noText = createDatabase<OtelDB>({ config, logger: silentLogger, telemetry: { queryText: false } });
    try {
      otel.reset();
      await new Repository(off.db, 'otelOrders').count();
      expect(otel.spans()).to.deep.equal([]);
      await new Repository(noText.db, 'otelOrders').count();
      const statement = otel.spans().find((span) => span.name === 'SELECT otel_orders')!;
      expect(statement.kind).to.equal(SpanKind.CLIENT);
      expect(statement.attributes['db.query.text']).to.equal(undefined);
    } finally {
      await off.close();
      await noText.close();
    }
    const bad = [
      [{ clientSpans: 'yes' }, 'telemetry.clientSpans'],
      [{ enabled: 1 }, 'telemetry.enabled'],
      [{ queryText: 'no' }, 'telemetry.queryText'],
      ['on', 'telemetry'],
    ] as const;
    for (const [telemetry, field] of bad) {
      const thrown = (() => {
        try {
          createDatabase({ config, logger: silentLogger, telemetry: telemetry as never });
          return undefined;
        } catch (e) {
          return e;
        }
      })();
      expect(thrown, field).to.be.instanceOf(ValidationError).with.property('field', field);
    }
  });

  it('the embedded engine reports its statements too, without a server address', async function () {
    const embedded = createDatabase<OtelDB>({
      config: loadConfig({ DATABASE_URL: 'pglite://' }, { envFile: '/dev/null' }),
      logger: silentLogger,
    });
    try {
      await sql`create table otel_orders (id serial primary key, code text not null, total integer not null)`.execute(
        embedded.db,
      );
      otel.reset();
      await new Repository(embedded.db, 'otelOrders').findMany({ limit: 1 });
      const statement = otel.spans().find((span) => span.name === 'SELECT otel_orders')!;
      expect(statement.kind).to.equal(SpanKind.CLIENT);
      expect(statement.attributes['server.address']).to.equal(undefined);
      expect(statement.attributes['db.system.name']).to.equal('postgresql');
    } finally {
      await embedded.close();
    }
  });
});
