import { expect } from 'chai';
import { recordQueries } from '../../../lib/testing/index.js';
import { database } from './setup.js';
import { useWorld } from './fixtures.js';

describe('orders service: reading orders', () => {
  const world = useWorld();

  for (let count = 1; count <= 25; count++) {
    it(`lists ${count} orders with their lines in two statements (no N+1)`, async () => {
      const { service, customerId } = world();
      for (let i = 0; i < count; i++) await service.placeOrder(customerId, [{ sku: 'apple', qty: 1 }]);
      const recording = await recordQueries(database(), () => service.ordersOf(customerId));
      expect(recording.count('read')).to.equal(2);
      expect(recording.count('write')).to.equal(0);
      const orders = await service.ordersOf(customerId);
      expect(orders).to.have.length(count);
      expect(orders.every((order) => order.lines.length === 1)).to.equal(true);
    });
  }

  for (let cancelled = 0; cancelled < 25; cancelled++) {
    it(`counts revenue of placed orders only (${cancelled} of 25 cancelled)`, async () => {
      const { service, customerId } = world();
      const placed = [];
      for (let i = 0; i < 25; i++) placed.push(await service.placeOrder(customerId, [{ sku: 'apple', qty: 1 }]));
      for (const order of placed.slice(0, cancelled)) await service.cancelOrder(order.id);
      expect(await service.revenueCents()).to.equal((25 - cancelled) * 50);
    });
  }
});
