/**
 * Safe by default (real PostgreSQL): a where never matches every row by accident, system catalogs
 * are not served, cursors can be signed, optimistic locking holds on every write path, and
 * misconfigured options fail at once with the option named.
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { type Generated } from 'kysely';
import {
  allRows,
  createDatabase,
  getTableInfo,
  loadConfig,
  NotFoundError,
  Repository,
  silentLogger,
  vacuumAnalyze,
  ValidationError,
  type Database,
} from '../../lib/index.js';
import { testConfig } from '../support/test-config.js';
import { expectValidation, queryServer, rejection } from '../support/spec-helpers.js';
import { testDatabaseUrl } from '../support/test-server.js';

interface Schema {
  safeItems: {
    id: Generated<string>;
    name: string;
    note: string | null;
    hits: Generated<number>;
    version: Generated<number>;
    isActive: Generated<boolean>;
    deletedAt: Date | null;
  };
  pgAuthid: { oid: number; rolname: string; rolpassword: string | null };
}

/** An unsigned cursor whose checksum was recomputed over values of the attacker's choosing. */
function forged(scope: string, values: readonly unknown[]): string {
  const payload = JSON.stringify(values.map((v) => (typeof v === 'number' ? ['n', v] : ['s', v])));
  const sum = createHash('sha256').update(scope).update('\0').update(payload).digest('base64url').slice(0, 12);
  return `${Buffer.from(payload).toString('base64url')}.${sum}`;
}

describe('safe by default (real PostgreSQL)', function () {
  this.timeout(30_000);
  let database: Database<Schema>;
  let items: Repository<Schema, 'safeItems'>;
  const url = (): string => testDatabaseUrl();
  const names = async (): Promise<string[]> =>
    (
      await queryServer<{ name: string; hits: number; is_active: boolean }>(
        url(),
        'select name, hits, is_active from safe_items order by id',
      )
    ).map((r) => `${r.name}:${r.hits}:${r.is_active}`);

  before(async () => {
    await queryServer(
      url(),
      `create table safe_items (id bigint generated always as identity primary key, name text not null,
         note text, hits integer not null default 0, version integer not null default 1,
         is_active boolean not null default true, deleted_at timestamptz)`,
    );
    database = createDatabase<Schema>({ config: testConfig(), logger: silentLogger });
    items = new Repository(database.db, 'safeItems', { version: 'version' });
  });

  beforeEach(async () => {
    await queryServer(url(), 'truncate safe_items restart identity');
    await queryServer(url(), "insert into safe_items (name, note) values ('ada', 'a'), ('bob', null), ('cy', 'c')");
  });

  after(async () => {
    await queryServer(url(), 'drop table if exists safe_items');
    await database.close();
  });

  describe('an undefined filter value never matches every row', () => {
    it('findOne, exists, count, findMany, paginate and findAndCount refuse an undefined value, naming the column', async () => {
      const where = { name: undefined };
      await expectValidation(items.findOne(where), 'name', 'required');
      await expectValidation(items.exists(where), 'name', 'required');
      await expectValidation(items.count(where), 'name', 'required');
      await expectValidation(items.findMany({ where }), 'name', 'required');
      await expectValidation(items.paginate({ where }), 'name', 'required');
      await expectValidation(items.findAndCount({ where }), 'name', 'required');
      // also next to a real condition: the missing one is not silently dropped
      await expectValidation(items.findOne({ id: '1', name: undefined }), 'name', 'required');
    });

    it('updateMany with an undefined value, an empty where, or Symbol keys only changes nothing', async () => {
      const before = await names();
      await expectValidation(items.updateMany({ name: undefined }, { hits: 9 }), 'name', 'required');
      await expectValidation(items.updateMany({}, { hits: 9 }), 'where', 'empty');
      const symbolOnly = { [Symbol('name')]: 'ada' } as unknown as { name: string };
      await expectValidation(items.updateMany(symbolOnly, { hits: 9 }), 'where');
      await expectValidation(items.findOne(symbolOnly), 'where');
      await expectValidation(items.exists({}), 'where', 'empty');
      await expectValidation(
        items.updateMany(undefined as unknown as { name: string }, { hits: 9 }),
        'where',
        'required',
      );
      await expectValidation(items.findOne(undefined as unknown as { name: string }), 'where', 'required');
      expect(await names()).to.deep.equal(before);
    });

    it('a where object that throws while it is read is a ValidationError, and nothing changes', async () => {
      const throwing = new Proxy(
        {},
        {
          ownKeys() {
            throw new Error('boom');
          },
        },
      ) as { name: string };
      await expectValidation(items.updateMany(throwing, { hits: 9 }), 'where', 'type');
      const getter = Object.defineProperty({}, 'name', {
        enumerable: true,
        get() {
          throw new Error('boom');
        },
      }) as { name: string };
      await expectValidation(items.findOne(getter), 'where', 'type');
      await expectValidation(items.create(getter), 'values', 'type');
      expect(await names()).to.deep.equal(['ada:0:true', 'bob:0:true', 'cy:0:true']);
    });

    it('every row is said explicitly: allRows, or a callback', async () => {
      expect(await items.updateMany(allRows, { note: 'all' })).to.equal(3);
      expect(await items.count(allRows)).to.equal(3);
      expect(await items.exists(allRows)).to.equal(true);
      expect(await items.updateMany((eb) => eb('name', '<>', 'ada'), { note: 'x' })).to.equal(2);
      // count() with no where at all still counts every live row, as before
      expect(await items.count()).to.equal(3);
    });

    it('withDeleted and onlyDeleted must be booleans (the text "false" does not show deleted rows)', async () => {
      const soft = new Repository(database.db, 'safeItems', { softDelete: { column: 'deletedAt', kind: 'timestamp' } });
      await soft.delete('1');
      await expectValidation(soft.findMany({ withDeleted: 'false' as unknown as boolean }), 'withDeleted', 'type');
      expect((await soft.findMany()).map((r) => r.name)).to.deep.equal(['bob', 'cy']);
    });
  });

  describe('system catalogs are not served', () => {
    it('a Repository on pg_authid or pg_catalog.pg_class is a ValidationError, and no row is read', async () => {
      const authid = new Repository(database.db, 'pgAuthid');
      await expectValidation(authid.findMany(), 'table', 'schema');
      const qualified = new Repository(database.db, 'pg_catalog.pg_class' as 'pgAuthid');
      await expectValidation(qualified.count(), 'table', 'schema');
      const info = new Repository(database.db, 'information_schema.tables' as 'pgAuthid');
      await expectValidation(info.findMany(), 'table', 'schema');
    });

    it('getTableInfo and vacuumAnalyze refuse system tables', async () => {
      await expectValidation(getTableInfo(database.db, 'pg_authid'), 'table', 'schema');
      await expectValidation(vacuumAnalyze(database.db, 'pg_catalog.pg_class'), 'table', 'schema');
      await expectValidation(getTableInfo(database.db, 'information_schema.sql_features'), 'table', 'schema');
    });

    it('an allow-list of schemas narrows what is served', async () => {
      const onlyOther = new Repository(database.db, 'safeItems', { schemas: ['reporting'] });
      await expectValidation(onlyOther.count(), 'table', 'schema');
      await expectValidation(getTableInfo(database.db, 'safe_items', { schemas: ['reporting'] }), 'table', 'schema');
      expect((await getTableInfo(database.db, 'safe_items', { schemas: ['public'] })).rowCount).to.equal(3);
      expect(await new Repository(database.db, 'safeItems', { schemas: ['public'] }).count()).to.equal(3);
    });
  });

  describe('cursors', () => {
    const scope = 'safeItems|id:asc';

    it('without a secret, the checksum catches damage but a recomputed one is accepted (documented)', async () => {
      const page = await items.paginate({ limit: 1 });
      const cursor = page.nextCursor!;
      const damaged = `${cursor.slice(0, 2)}${cursor[2] === 'A' ? 'B' : 'A'}${cursor.slice(3)}`;
      await expectValidation(items.paginate({ limit: 1, cursor: damaged }), 'cursor');
      const next = await items.paginate({ limit: 1, cursor: forged(scope, ['2']) });
      expect(next.items.map((r) => r.name)).to.deep.equal(['cy']);
    });

    it('with DB_CURSOR_SECRET, cursors are HMAC-signed: a forged or unsigned one is refused', async () => {
      const secret = 's'.repeat(40);
      const signed = createDatabase<Schema>({
        config: loadConfig({ ...process.env, DATABASE_URL: url(), DB_CURSOR_SECRET: secret }, { envFile: '/dev/null' }),
        logger: silentLogger,
      });
      try {
        const repo = new Repository(signed.db, 'safeItems');
        const first = await repo.paginate({ limit: 1 });
        const second = await repo.paginate({ limit: 1, cursor: first.nextCursor });
        expect(second.items.map((r) => r.name)).to.deep.equal(['bob']);
        await expectValidation(repo.paginate({ limit: 1, cursor: forged(scope, ['2']) }), 'cursor');
        // one signed with another key: refused
        const other = new Repository(signed.db, 'safeItems', { cursorSecret: 't'.repeat(40) });
        await expectValidation(other.paginate({ limit: 1, cursor: first.nextCursor }), 'cursor');
        // a signed cursor is not accepted where no secret is set either
        await expectValidation(items.paginate({ limit: 1, cursor: first.nextCursor }), 'cursor');
      } finally {
        await signed.close();
      }
    });
  });

  describe('optimistic locking holds on every write path', () => {
    it('updateMany bumps the version, so a writer holding the old one gets OptimisticLockError', async () => {
      const read = await items.getById('1');
      expect(await items.updateMany({ name: 'ada' }, { note: 'bulk' })).to.equal(1);
      const error = await rejection(items.update('1', { note: 'stale', version: read.version }));
      expect(error.name).to.equal('OptimisticLockError');
      expect((await items.getById('1')).note).to.equal('bulk');
    });

    it('updateMany, increment and upsert bump the version; updateMany refuses to set it', async () => {
      await items.updateMany({ id: '1' }, { note: 'n' });
      await items.increment('1', 'hits');
      await items.upsert({ id: '1', name: 'ada' }, ['id']).catch(() => undefined);
      const byName = new Repository(database.db, 'safeItems', { version: 'version' });
      await queryServer(url(), 'create unique index if not exists safe_items_name on safe_items (name)');
      await byName.upsert({ name: 'ada', note: 'up', version: 100 }, ['name']);
      expect((await items.getById('1')).version).to.equal(4);
      await expectValidation(items.updateMany({ id: '1' }, { version: 50 }), 'version', 'managed');
      await queryServer(url(), 'drop index safe_items_name');
    });

    it('a version that is not an integer is a ValidationError, not a server error', async () => {
      for (const version of ['2 or 1=1', NaN, 2.5, {}]) {
        await expectValidation(items.update('1', { note: 'x', version: version as number }), 'version', 'type');
      }
      expect((await items.getById('1')).note).to.equal('a');
    });
  });

  describe('misconfiguration is caught early, naming the option', () => {
    it('increment of a text column, or by a fraction on an integer column, is a ValidationError', async () => {
      // @ts-expect-error -- a text column is not numeric: refused by the types too
      await expectValidation(items.increment('1', 'name'), 'name', 'type');
      await expectValidation(items.increment('1', 'hits', 0.5), 'by', 'type');
      expect(await names()).to.deep.equal(['ada:0:true', 'bob:0:true', 'cy:0:true']);
    });

    it('a softDelete kind other than timestamp or boolean is refused when the repository is made', () => {
      expect(
        () =>
          new Repository(database.db, 'safeItems', {
            softDelete: { column: 'deletedAt', kind: 'bogus' as 'timestamp' },
          }),
      )
        .to.throw(ValidationError)
        .with.property('field', 'softDelete.kind');
    });

    it('option columns must exist and have the right type', async () => {
      const wrongKind = new Repository(database.db, 'safeItems', {
        softDelete: { column: 'isActive', kind: 'timestamp' },
      });
      await expectValidation(wrongKind.findMany(), 'softDelete.kind', 'type');
      // @ts-expect-error -- not a column of the table: refused by the types too
      const missing = new Repository(database.db, 'safeItems', { softDelete: { column: 'gone', kind: 'boolean' } });
      await expectValidation(missing.findMany(), 'softDelete.column', 'column');
      // @ts-expect-error -- a text column cannot be the version: refused by the types too
      const textVersion = new Repository(database.db, 'safeItems', { version: 'name' });
      await expectValidation(textVersion.findById('1'), 'version', 'type');
      expect(() => new Repository(database.db, 'safeItems', { cursorSecret: 'short' })).to.throw(ValidationError);
    });

    it('a table that does not exist is still NotFoundError', async () => {
      const error = await rejection(new Repository(database.db, 'nope' as 'safeItems').count());
      expect(error).to.be.instanceOf(NotFoundError);
    });
  });
});
