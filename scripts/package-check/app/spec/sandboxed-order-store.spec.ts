// The testing kit from the installed tarball (kysely-repository/testing): each test in a sandbox on
// the database the package check migrated (DATABASE_URL), opened and closed by the spec itself.
import assert from 'node:assert/strict';
import { UniqueViolationError, type Database } from 'kysely-repository';
import { openSandbox, recordQueries, stubRepository, type Sandbox } from 'kysely-repository/testing';
import { openDatabase } from '../src/database.js';
import type { DB } from '../src/db.js';
import { OrderStore } from '../src/order-store.js';

describe('OrderStore in the testing kit sandbox', () => {
  let database: Database<DB>;
  let store: OrderStore;
  let sandbox: Sandbox;
  let before = 0;

  beforeEach(async () => {
    database ??= openDatabase();
    store = new OrderStore(database.db);
    before = await store.orders.count();
    sandbox = await openSandbox(database);
  });
  afterEach(async () => {
    await sandbox.close();
    assert.equal(await store.orders.count(), before, 'the sandbox rolled everything back');
  });
  after(async () => {
    await database.close();
  });

  it('places an order with its lines in two writes and a transaction, rolled back after the test', async () => {
    await sandbox.run(async () => {
      const recording = await recordQueries(database, () =>
        store.placeOrder('kit', [
          { sku: 'a', qty: 1 },
          { sku: 'b', qty: 2 },
        ]),
      );
      assert.equal(recording.count('write'), 2);
      assert.equal(await store.orders.count({ customer: 'kit' }), 1);
    });
  });

  it('lets an expected constraint violation fail alone, as on a pool', async () => {
    await sandbox.run(async () => {
      const { order } = await store.placeOrder('kit', [{ sku: 'a', qty: 1 }]);
      await assert.rejects(
        store.lines.create({ orderId: order.id, lineNo: 1, sku: 'dup', qty: 1 }),
        UniqueViolationError,
      );
      assert.equal(await store.lines.count({ orderId: order.id }), 1);
    });
  });

  it('stubs the store for a unit test, typed by its methods', async () => {
    const stub = stubRepository(OrderStore);
    stub.findLine.resolves(undefined);
    assert.equal(await stub.findLine('x', 1), undefined);
  });
});
