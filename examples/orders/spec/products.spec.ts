import { expect } from 'chai';
import { CheckViolationError } from '../../../lib/index.js';
import { useWorld } from './fixtures.js';

describe('orders service: products', () => {
  const world = useWorld();

  for (let i = 0; i < 20; i++) {
    it(`adds product ${i} to the catalogue of three`, async () => {
      const { service } = world();
      await service.addProduct(`sku-${i}`, `Product ${i}`, 100 + i, i);
      expect(await service.products.count()).to.equal(4);
      expect(await service.products.findById(`sku-${i}`)).to.deep.include({ priceCents: 100 + i, stock: i });
    });
  }

  for (let i = 1; i <= 15; i++) {
    it(`changes the price of a pear to ${i * 10} cents`, async () => {
      const { service } = world();
      const pear = await service.products.update('pear', { priceCents: i * 10 });
      expect(pear?.priceCents).to.equal(i * 10);
      expect((await service.products.findById('apple'))?.priceCents).to.equal(50);
    });
  }

  for (let i = 1; i <= 15; i++) {
    it(`refuses ${i} more figs than there are (check constraint), leaving the stock as it was`, async () => {
      const { service } = world();
      const error = await service.products.decrement('fig', 'stock', 1 + i).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).to.be.instanceOf(CheckViolationError);
      expect((await service.products.findById('fig'))?.stock).to.equal(1);
    });
  }
});
