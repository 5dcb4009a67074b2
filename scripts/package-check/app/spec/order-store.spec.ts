// Against the real database the package check created and migrated (DATABASE_URL).
import assert from 'node:assert/strict';
import { CheckViolationError, type Database } from 'kysely-repository';
import { openDatabase } from '../src/database.js';
import type { DB } from '../src/db.js';
import { OrderStore } from '../src/order-store.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('OrderStore on PostgreSQL', () => {
  let database: Database<DB>;
  let store: OrderStore;

  before(() => {
    database = openDatabase();
    store = new OrderStore(database.db);
  });
  after(async () => {
    await database.close();
  });

  it('creates an order with a uuid key and its lines, counted, in one transaction', async () => {
    const { order, lineCount } = await store.placeOrder('ada', [
      { sku: 'apple', qty: 3 },
      { sku: 'pear', qty: 1 },
    ]);
    assert.match(order.id, UUID);
    assert.equal(lineCount, 2);
    assert.equal(await store.lines.count({ orderId: order.id }), 2);
  });

  it('finds, updates and deletes a line by its composite key', async () => {
    const { order } = await store.placeOrder('grace', [
      { sku: 'fig', qty: 2 },
      { sku: 'kiwi', qty: 5 },
    ]);
    const line = await store.findLine(order.id, 2);
    assert.equal(line?.sku, 'kiwi');
    const updated = await store.changeQuantity(order.id, 2, 7);
    assert.equal(updated?.qty, 7);
    assert.equal((await store.findLine(order.id, 1))?.qty, 2, 'the other line is unchanged');
    assert.equal(await store.removeLine(order.id, 2), true);
    assert.equal(await store.findLine(order.id, 2), undefined);
    assert.equal(await store.removeLine(order.id, 2), false);
  });

  it('writes nothing when one line fails: the order and its lines roll back together', async () => {
    await assert.rejects(
      store.placeOrder('barbara', [
        { sku: 'plum', qty: 1 },
        { sku: 'lime', qty: 0 },
      ]),
      CheckViolationError,
    );
    assert.equal(await store.orders.count({ customer: 'barbara' }), 0);
  });
});
