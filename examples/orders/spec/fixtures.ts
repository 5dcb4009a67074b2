// What every spec of the orders service starts from: the service with a spy for its events, a
// customer and a small catalogue, written by a beforeEach hook (inside the test's sandbox).
import sinon from 'sinon';
import { OrdersService, type EventSink } from '../src/orders-service.js';
import { database } from './setup.js';

export interface World {
  readonly service: OrdersService;
  readonly events: sinon.SinonSpy<Parameters<EventSink['publish']>, void>;
  readonly customerId: string;
}

/** Registers the beforeEach hook that builds the world, and returns a getter for it. */
export function useWorld(): () => World {
  let world: World | undefined;
  beforeEach(async () => {
    const events = sinon.spy<EventSink['publish']>(() => undefined);
    const service = new OrdersService(database().db, { publish: events });
    const customer = await service.registerCustomer('ada@example.com', 'Ada');
    await service.products.createMany([
      { sku: 'apple', name: 'Apple', priceCents: 50, stock: 100 },
      { sku: 'pear', name: 'Pear', priceCents: 80, stock: 10 },
      { sku: 'fig', name: 'Fig', priceCents: 120, stock: 1 },
    ]);
    world = { service, events, customerId: customer.id };
  });
  return () => world!;
}
