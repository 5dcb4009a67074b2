/**
 * Keys as applications have them (real PostgreSQL): a composite primary key, a text or uuid key,
 * a key read from the catalog when the options name none, a `primaryKey` option checked against
 * the table's real keys, and a table with no primary key using every method that needs none.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { type Generated } from 'kysely';
import pg from 'pg';
import {
  withTransaction,
  createDatabase,
  NotFoundError,
  Repository,
  silentLogger,
  ValidationError,
  type Database,
} from '../../lib/index.js';
import { checkColumnValue } from '../../lib/repository/column-values.js';
import { testConfig } from '../support/test-config.js';
import { expectValidation, queryServer, rejection } from '../support/spec-helpers.js';
import { testDatabaseUrl } from '../support/test-server.js';

interface Schema {
  keyOrderLines: { orderId: string; lineNo: number; sku: string; qty: Generated<number>; note: string | null };
  keyCodes: { code: string; label: string };
  keyTokens: { token: Generated<string>; owner: string; slot: number | null };
  keyEvents: { at: Generated<Date>; kind: string; payload: string | null };
  keyCodeView: { code: string; label: string };
}

describe('keys as applications have them (real PostgreSQL)', function () {
  this.timeout(30_000);
  let database: Database<Schema>;
  const url = (): string => testDatabaseUrl();
  const lines = async (): Promise<string[]> =>
    (
      await queryServer<{ order_id: string; line_no: number; qty: number }>(
        url(),
        'select order_id, line_no, qty from key_order_lines order by order_id, line_no',
      )
    ).map((r) => `${r.order_id}/${r.line_no}:${r.qty}`);

  before(async () => {
    // the primary key declared (line_no, order_id): its order, not the columns', is the key's
    await queryServer(
      url(),
      `create table key_order_lines (order_id bigint not null, line_no integer not null, sku text not null,
         qty integer not null default 1, note text, primary key (line_no, order_id));
       create unique index key_order_lines_sku on key_order_lines (sku);
       create unique index key_order_lines_note on key_order_lines (note);
       create unique index key_order_lines_partial on key_order_lines (qty) where qty > 100;
       create table key_codes (code text primary key, label text not null);
       create table key_tokens (token uuid primary key default gen_random_uuid(), owner text not null, slot integer);
       create table key_events (at timestamptz not null default now(), kind text not null, payload text);
       create view key_code_view as select code, label from key_codes`,
    );
    database = createDatabase<Schema>({ config: testConfig(), logger: silentLogger });
  });

  beforeEach(async () => {
    await queryServer(url(), 'truncate key_order_lines, key_codes, key_tokens, key_events');
    await queryServer(
      url(),
      `insert into key_order_lines (order_id, line_no, sku, qty) values
         (1, 1, 'a', 1), (1, 2, 'b', 2), (2, 1, 'c', 3), (2, 2, 'd', 4), (3, 1, 'e', 5)`,
    );
  });

  after(async () => {
    await queryServer(url(), 'drop view if exists key_code_view');
    await queryServer(url(), 'drop table if exists key_order_lines, key_codes, key_tokens, key_events');
    await database.close();
  });

  describe('a composite primary key, read from the catalog', () => {
    it('create, findMany and findById({ orderId, lineNo }) work with no option', async () => {
      const orderLines = new Repository(database.db, 'keyOrderLines');
      const created = await orderLines.create({ orderId: '4', lineNo: 1, sku: 'f' });
      expect(created).to.include({ orderId: '4', lineNo: 1, sku: 'f', qty: 1 });
      expect(await orderLines.findMany({ where: { orderId: '1' } })).to.have.length(2);
      expect(await orderLines.findById({ orderId: 2, lineNo: 1 })).to.include({ sku: 'c' });
      expect(await orderLines.findById({ lineNo: 9, orderId: '2' })).to.equal(undefined);
      expect(await orderLines.getById({ orderId: '1', lineNo: 2 })).to.include({ sku: 'b' });
    });

    it('update, increment, decrement and delete change exactly the one row named', async () => {
      const orderLines = new Repository(database.db, 'keyOrderLines');
      expect(await orderLines.update({ orderId: '1', lineNo: 2 }, { qty: 20 })).to.include({ qty: 20 });
      expect(await orderLines.increment({ orderId: '2', lineNo: 1 }, 'qty', 10)).to.include({ qty: 13 });
      expect(await orderLines.decrement({ orderId: '2', lineNo: 2 }, 'qty')).to.include({ qty: 3 });
      expect(await orderLines.delete({ orderId: '3', lineNo: 1 })).to.equal(true);
      expect(await orderLines.delete({ orderId: '3', lineNo: 1 })).to.equal(false);
      expect(await lines()).to.deep.equal(['1/1:1', '1/2:20', '2/1:13', '2/2:3']);
    });

    it('a key missing a column, with an extra column, or given as one value is a ValidationError naming it', async () => {
      const orderLines = new Repository(database.db, 'keyOrderLines');
      const loose = orderLines as unknown as Repository<Schema, 'keyOrderLines', 'orderId'>;
      await expectValidation(loose.findById({ orderId: '1' }), 'lineNo', 'required');
      await expectValidation(loose.update({ orderId: '1', lineNo: 1, sku: 'a' } as never, { qty: 9 }), 'sku', 'column');
      await expectValidation(loose.delete('1'), 'id', 'type');
      await expectValidation(loose.delete({ orderId: '1', lineNo: undefined } as never), 'lineNo', 'required');
      await expectValidation(loose.delete({ orderId: 'x', lineNo: 1 } as never), 'orderId', 'type');
      expect(await lines()).to.deep.equal(['1/1:1', '1/2:2', '2/1:3', '2/2:4', '3/1:5']);
    });

    it('getById of a missing composite key names every key column in the NotFoundError', async () => {
      const orderLines = new Repository(database.db, 'keyOrderLines');
      const error = await rejection(orderLines.getById({ orderId: '7', lineNo: 9 }));
      expect(error).to.be.instanceOf(NotFoundError);
      expect(error.message).to.equal('keyOrderLines (lineNo=9, orderId=7) not found');
    });

    it('keyset pages over ties in the sort column cover every row exactly once', async () => {
      const orderLines = new Repository(database.db, 'keyOrderLines');
      await orderLines.createMany(
        Array.from({ length: 40 }, (_, i) => ({ orderId: String(10 + (i % 4)), lineNo: i, sku: `s${i}`, qty: i % 3 })),
      );
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await orderLines.paginate({ orderBy: [['qty', 'desc']], limit: 7, cursor });
        seen.push(...page.items.map((r) => `${r.orderId}/${r.lineNo}`));
        cursor = page.nextCursor;
      } while (cursor !== null);
      const all = await queryServer<{ k: string }>(
        url(),
        "select order_id || '/' || line_no as k from key_order_lines",
      );
      expect(seen).to.have.length(all.length);
      expect([...seen].sort()).to.deep.equal(all.map((r) => r.k).sort());
    });

    it("a repository made on a transaction of the Database has its names and key (ours or Kysely's)", async () => {
      await withTransaction(database.db, async (trx) => {
        const inTrx = new Repository(trx, 'keyOrderLines');
        expect(await inTrx.update({ orderId: '1', lineNo: 1 }, { qty: 7 })).to.include({ sku: 'a', qty: 7 });
      });
      await database.db.transaction().execute(async (trx) => {
        expect(await new Repository(trx, 'keyOrderLines').findById({ orderId: '1', lineNo: 1 })).to.include({ qty: 7 });
      });
    });

    it('a declared composite key in either order is accepted', async () => {
      const declared = new Repository(database.db, 'keyOrderLines', { primaryKey: ['orderId', 'lineNo'] });
      expect(await declared.findById({ orderId: '1', lineNo: 1 })).to.include({ sku: 'a' });
      const reversed = new Repository(database.db, 'keyOrderLines', { primaryKey: ['lineNo', 'orderId'] });
      expect(await reversed.delete({ lineNo: 1, orderId: '1' })).to.equal(true);
      expect(await lines()).to.deep.equal(['1/2:2', '2/1:3', '2/2:4', '3/1:5']);
    });
  });

  describe('the primaryKey option must identify a row', () => {
    it('part of a composite key is refused at the first call, naming the table, and changes nothing', async () => {
      const partial = new Repository(database.db, 'keyOrderLines', { primaryKey: 'lineNo' });
      const error = await expectValidation(partial.update(1, { qty: 9 }), 'primaryKey', 'key');
      expect(error.message).to.contain('keyOrderLines').and.contain('(lineNo, orderId)');
      await expectValidation(partial.delete(1), 'primaryKey', 'key');
      await expectValidation(partial.findMany(), 'primaryKey', 'key');
      expect(await lines()).to.deep.equal(['1/1:1', '1/2:2', '2/1:3', '2/2:4', '3/1:5']);
    });

    it('a unique index over NOT NULL columns is a key; a nullable or partial unique index is not', async () => {
      const bySku = new Repository(database.db, 'keyOrderLines', { primaryKey: 'sku' });
      expect(await bySku.update('c', { qty: 30 })).to.include({ orderId: '2', lineNo: 1, qty: 30 });
      expect(await bySku.delete('e')).to.equal(true);
      await expectValidation(
        new Repository(database.db, 'keyOrderLines', { primaryKey: 'note' }).findById('x'),
        'primaryKey',
        'key',
      );
      await expectValidation(
        new Repository(database.db, 'keyOrderLines', { primaryKey: 'qty' }).findById(1),
        'primaryKey',
        'key',
      );
      // @ts-expect-error -- not a column of the table: refused by the types too
      const misspelt = new Repository(database.db, 'keyOrderLines', { primaryKey: 'lineNumber' });
      await expectValidation(misspelt.findById(1), 'primaryKey', 'column');
      expect(await lines()).to.deep.equal(['1/1:1', '1/2:2', '2/1:30', '2/2:4']);
    });

    it('an option of the wrong form is refused when the repository is made', () => {
      const make = (primaryKey: unknown) => () =>
        new Repository(database.db, 'keyOrderLines', { primaryKey: primaryKey as 'sku' });
      for (const bad of [[], ['sku', 'sku'], [''], 7, ['sku', 3]]) {
        expect(make(bad), JSON.stringify(bad)).to.throw(ValidationError).with.property('field', 'primaryKey');
      }
    });
  });

  describe('tables without an id column', () => {
    it('a text primary key and a uuid primary key, read from the catalog', async () => {
      const codes = new Repository(database.db, 'keyCodes');
      await codes.create({ code: 'EUR', label: 'euro' });
      expect(await codes.update('EUR', { label: 'Euro' })).to.include({ label: 'Euro' });
      expect(await codes.getById('EUR')).to.deep.equal({ code: 'EUR', label: 'Euro' });
      const tokens = new Repository(database.db, 'keyTokens');
      const token = await tokens.create({ owner: 'ada' });
      expect(token.token).to.match(/^[0-9a-f-]{36}$/);
      expect(await tokens.findById(token.token)).to.deep.equal(token);
      expect(await tokens.findById({ token: token.token })).to.deep.equal(token);
      await expectValidation(tokens.findById('not-a-uuid'), 'id');
      expect(await tokens.delete(token.token)).to.equal(true);
    });
  });

  describe('a view, which cannot declare a key', () => {
    it('has no key unless the options name one, which is then taken at its word', async () => {
      await queryServer(url(), "insert into key_codes values ('EUR', 'euro'), ('USD', 'dollar')");
      const keyless = new Repository(database.db, 'keyCodeView');
      await expectValidation(keyless.findById('EUR'), 'primaryKey', 'required');
      expect(await keyless.count()).to.equal(2);
      const view = new Repository(database.db, 'keyCodeView', { primaryKey: 'code' });
      expect(await view.getById('USD')).to.deep.equal({ code: 'USD', label: 'dollar' });
      expect(await view.update('EUR', { label: 'Euro' })).to.include({ label: 'Euro' });
    });
  });

  describe('uuid text', () => {
    it("is accepted exactly when PostgreSQL's uuid input accepts it (fast-check, the server as oracle)", async () => {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        const column = {
          name: 'token',
          dbName: 'token',
          type: 'uuid',
          nullable: false,
          hasDefault: true,
          generatedAlways: false,
        };
        const accepted = (text: string): boolean => {
          try {
            checkColumnValue(column, text);
            return true;
          } catch (error) {
            if (!(error instanceof ValidationError)) throw error;
            return false;
          }
        };
        const serverAccepts = async (text: string): Promise<boolean> => {
          try {
            await client.query('select $1::text::uuid', [text]);
            return true;
          } catch {
            return false;
          }
        };
        // pieces of uuids: hex groups, hyphens, braces, spaces, non-hex letters
        const piece = fc.constantFrom(
          'a0ee',
          'BC99',
          '9c0b',
          '4ef8',
          'bb6d',
          '6bb9',
          'bd38',
          '0a11',
          '-',
          '{',
          '}',
          ' ',
          'g',
          '0',
          '00',
        );
        const text = fc.oneof(
          fc.array(piece, { maxLength: 14 }).map((parts) => parts.join('')),
          fc.uuid().map((u) => u.replace(/-/g, '')),
          fc.uuid().map((u) => `{${u}}`),
        );
        await fc.assert(
          fc.asyncProperty(text, async (candidate) => accepted(candidate) === (await serverAccepts(candidate))),
          { numRuns: 600 },
        );
        for (const known of [
          '{a0eebc999c0b4ef8bb6d6bb9bd380a11}',
          'a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11',
          'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
        ]) {
          expect(accepted(known), known).to.equal(true);
          expect(await serverAccepts(known), known).to.equal(true);
        }
      } finally {
        await client.end();
      }
    });
  });

  describe('a table with no primary key', () => {
    it('uses every method that needs no key', async () => {
      const events = new Repository(database.db, 'keyEvents');
      await events.create({ kind: 'a' });
      expect(await events.createMany([{ kind: 'b' }, { kind: 'c', payload: 'p' }], { returning: false })).to.equal(2);
      expect(await events.count()).to.equal(3);
      expect(await events.exists({ kind: 'b' })).to.equal(true);
      expect(await events.findOne({ kind: 'c' })).to.include({ payload: 'p' });
      expect(await events.findMany({ orderBy: 'kind' })).to.have.length(3);
      expect(await events.updateMany({ kind: 'a' }, { payload: 'q' })).to.equal(1);
      const page = await events.paginate({ orderBy: 'kind', offset: 0, limit: 2 });
      expect(page.items.map((r) => r.kind)).to.deep.equal(['a', 'b']);
      expect((await events.findAndCount({ orderBy: 'kind', limit: 1 })).total).to.equal(3);
    });

    it('methods that name a row, and keyset pages, are a ValidationError saying how to give it a key', async () => {
      const events = new Repository(database.db, 'keyEvents');
      await events.create({ kind: 'a' });
      const error = await expectValidation(events.findById('1'), 'primaryKey', 'required');
      expect(error.message).to.contain('keyEvents has no primary key');
      await expectValidation(events.update('1', { kind: 'b' }), 'primaryKey', 'required');
      await expectValidation(events.delete('1'), 'primaryKey', 'required');
      await expectValidation(events.paginate({ orderBy: 'kind' }), 'primaryKey', 'required');
      expect(await events.count({ kind: 'a' })).to.equal(1);
    });
  });
});
