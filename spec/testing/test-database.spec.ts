import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import type { MigrationProvider } from 'kysely/migration';
import { ConfigError, DatabaseError, ValidationError } from '../../lib/index.js';
import { createTestDatabase } from '../../lib/testing/index.js';
import { queryServer, rejection } from '../support/spec-helpers.js';
import { testDatabaseUrl, withDatabase } from '../support/test-server.js';

interface Ledger {
  ledgerEntries: { entryNo: string; amountCents: string };
}

const migrations: MigrationProvider = {
  getMigrations: () =>
    Promise.resolve({
      '2026_01_ledger': {
        up: async (db) => {
          await sql`create table ledger_entries (entry_no bigint primary key, amount_cents bigint not null)`.execute(
            db,
          );
        },
      },
    }),
};

async function databaseExists(name: string): Promise<boolean> {
  const rows = await queryServer(testDatabaseUrl(), 'select 1 from pg_database where datname = $1', [name]);
  return rows.length === 1;
}

describe('testing kit: createTestDatabase', function () {
  this.timeout(60_000);
  const server = (): string => withDatabase(testDatabaseUrl(), 'postgres');

  it('makes a migrated database of its own on the server, and close() drops it', async () => {
    const database = await createTestDatabase<Ledger>({ url: server(), migrations });
    const name = database.name!;
    expect(name).to.match(/^kr_test_\d+_[0-9a-f]{8}$/);
    await database.db.insertInto('ledgerEntries').values({ entryNo: '1', amountCents: '250' }).execute();
    const rows = await database.db.selectFrom('ledgerEntries').selectAll().execute();
    expect(rows).to.deep.equal([{ entryNo: '1', amountCents: '250' }]);
    expect(await databaseExists(name)).to.equal(true);
    await database.close();
    expect(await databaseExists(name)).to.equal(false);
    await database.close(); // idempotent
  });

  it('runs the same migrations on the embedded engine (pglite://)', async () => {
    const database = await createTestDatabase<Ledger>({ url: 'pglite://', migrations });
    try {
      expect(database.name).to.equal(undefined);
      expect(database.config.engine).to.equal('pglite');
      await database.db.insertInto('ledgerEntries').values({ entryNo: '7', amountCents: '-5' }).execute();
      expect(await database.db.selectFrom('ledgerEntries').select('amountCents').execute()).to.deep.equal([
        { amountCents: '-5' },
      ]);
    } finally {
      await database.close();
    }
  });

  it('drops the database again when a migration fails, and names the migration', async () => {
    const before = await queryServer<{ n: string }>(
      testDatabaseUrl(),
      "select count(*) as n from pg_database where datname like 'kr\\_test\\_%'",
    );
    const failing: MigrationProvider = {
      getMigrations: () =>
        Promise.resolve({
          '001_broken': {
            up: async (db) => {
              await sql`create table broken (x no_such_type)`.execute(db);
            },
          },
        }),
    };
    const error = await rejection(createTestDatabase({ url: server(), migrations: failing }));
    expect(error).to.be.instanceOf(DatabaseError);
    expect(error.message).to.include('001_broken');
    const after = await queryServer<{ n: string }>(
      testDatabaseUrl(),
      "select count(*) as n from pg_database where datname like 'kr\\_test\\_%'",
    );
    expect(after[0]!.n).to.equal(before[0]!.n);
  });

  it('refuses options of the wrong form naming them, and quotes a template name as an identifier', async () => {
    for (const [bad, field] of [
      [{ url: 42 }, 'url'],
      [{ url: '' }, 'url'],
      [{ template: Symbol('t') }, 'template'],
      [{ migrations: {} }, 'migrations'],
      [{ env: 'DB_POOL_SIZE=1' }, 'env'],
    ] as const) {
      const error = await rejection(createTestDatabase(bad as never));
      expect(error).to.be.instanceOf(ValidationError);
      expect(error).to.have.property('field', field);
    }
    const runDatabase = decodeURIComponent(new URL(testDatabaseUrl()).pathname.slice(1));
    const template = `x"; drop database "${runDatabase}"; --`;
    const error = await rejection(createTestDatabase({ url: server(), template }));
    expect(error).to.be.instanceOf(DatabaseError);
    expect(error.message).to.include('does not exist');
    expect(await databaseExists(runDatabase)).to.equal(true);
  });

  it('refuses a URL that is neither postgres:// nor pglite://, naming TEST_DATABASE_URL', async () => {
    const error = await rejection(createTestDatabase({ url: 'mysql://localhost/x' }));
    expect(error).to.be.instanceOf(ConfigError);
    expect(error.message).to.include('TEST_DATABASE_URL');
  });

  it('is never loaded by the main entry: no module outside lib/testing imports it', async () => {
    const root = path.join(import.meta.dirname, '../../lib');
    const files = (await readdir(root, { recursive: true })).filter(
      (file) => file.endsWith('.ts') && !file.startsWith(`testing${path.sep}`),
    );
    for (const file of files) {
      const text = await readFile(path.join(root, file), 'utf8');
      expect(text, file).not.to.match(/from '[./]*\/?testing\//);
    }
  });
});
