import { expect } from 'chai';
import { OutOfStockError } from '../src/orders-service.js';
import { useWorld } from './fixtures.js';

describe('orders service: placing and cancelling orders', () => {
  const world = useWorld();

  it('registers same@example.com while customers.spec.ts registers it too (isolation: both pass)', async () => {
    const { service } = world();
    await service.registerCustomer('same@example.com', 'From orders.spec');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await service.customers.findOne({ email: 'same@example.com' }))?.name).to.equal('From orders.spec');
  });

  for (let qty = 1; qty <= 20; qty++) {
    it(`places an order of ${qty} apples and a pear: stock taken, total kept, event after commit`, async () => {
      const { service, events, customerId } = world();
      const order = await service.placeOrder(customerId, [
        { sku: 'apple', qty },
        { sku: 'pear', qty: 1 },
      ]);
      expect(order.totalCents).to.equal(qty * 50 + 80);
      expect((await service.products.findById('apple'))?.stock).to.equal(100 - qty);
      expect(await service.lines.count({ orderId: order.id })).to.equal(2);
      expect(events.calledOnceWithExactly({ type: 'placed', orderId: order.id })).to.equal(true);
    });
  }

  for (let extra = 1; extra <= 15; extra++) {
    it(`writes nothing when the last item is out of stock (${extra} figs too many)`, async () => {
      const { service, events, customerId } = world();
      const error = await service
        .placeOrder(customerId, [
          { sku: 'apple', qty: 3 },
          { sku: 'fig', qty: 1 + extra },
        ])
        .then(
          () => undefined,
          (caught: unknown) => caught,
        );
      expect(error).to.be.instanceOf(OutOfStockError);
      expect((await service.products.findById('apple'))?.stock).to.equal(100);
      expect(await service.orders.count()).to.equal(0);
      expect(events.called).to.equal(false);
    });
  }

  for (let qty = 1; qty <= 14; qty++) {
    it(`cancels an order of ${qty} apples and puts the stock back`, async () => {
      const { service, events, customerId } = world();
      const order = await service.placeOrder(customerId, [{ sku: 'apple', qty }]);
      await service.cancelOrder(order.id);
      expect((await service.products.findById('apple'))?.stock).to.equal(100);
      expect((await service.orders.findById(order.id))?.status).to.equal('cancelled');
      expect(events.secondCall.args[0]).to.deep.equal({ type: 'cancelled', orderId: order.id });
    });
  }
});
