import { expect } from 'chai';
import { UniqueViolationError } from '../../../lib/index.js';
import { database } from './setup.js';
import { useWorld } from './fixtures.js';

describe('orders service: customers', () => {
  const world = useWorld();

  it('registers same@example.com while orders.spec.ts registers it too (isolation: both pass)', async () => {
    const { service } = world();
    const customer = await service.registerCustomer('same@example.com', 'From customers.spec');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await service.customers.count({ email: 'same@example.com' })).to.equal(1);
    expect((await service.customers.findById(customer.id))?.name).to.equal('From customers.spec');
  });

  for (let i = 0; i < 24; i++) {
    it(`registers customer ${i} and finds them by id, seeing only this test's customers`, async () => {
      const { service } = world();
      const customer = await service.registerCustomer(`c${i}@example.com`, `Customer ${i}`);
      expect(customer.id).to.match(/^[0-9a-f-]{36}$/);
      expect(await service.customers.findById(customer.id)).to.deep.include({ email: `c${i}@example.com` });
      expect(await service.customers.count()).to.equal(2);
    });
  }

  for (let i = 0; i < 15; i++) {
    it(`refuses a second customer with the same e-mail (${i}), and keeps the first`, async () => {
      const { service } = world();
      await service.registerCustomer(`dup${i}@example.com`, 'First');
      const error = await service.registerCustomer(`dup${i}@example.com`, 'Second').then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).to.be.instanceOf(UniqueViolationError);
      expect((await service.customers.findOne({ email: `dup${i}@example.com` }))?.name).to.equal('First');
    });
  }

  for (let i = 0; i < 10; i++) {
    it(`renames customer ${i} through a plain Kysely update, in the same sandbox`, async () => {
      const { service, customerId } = world();
      await database()
        .db.updateTable('customers')
        .set({ name: `Ada ${i}` })
        .where('id', '=', customerId)
        .execute();
      expect((await service.customers.findById(customerId))?.name).to.equal(`Ada ${i}`);
    });
  }
});
