// A unit spec: the repository is a sinon stub injected through the constructor.
import assert from 'node:assert/strict';
import sinon from 'sinon';
import { Repository } from 'kysely-repository';
import type { DB } from '../src/db.js';
import { OrderSummary } from '../src/order-summary.js';

describe('OrderSummary with a stubbed order-lines repository', () => {
  const sandbox = sinon.createSandbox();
  afterEach(() => sandbox.restore());

  it('adds up the quantities of the lines the repository returns', async () => {
    const lines = sandbox.createStubInstance<Repository<DB, 'orderLines'>>(Repository);
    lines.findMany.resolves([
      { orderId: 'o-1', lineNo: 1, sku: 'apple', qty: 3 },
      { orderId: 'o-1', lineNo: 2, sku: 'pear', qty: 4 },
    ]);
    assert.equal(await new OrderSummary(lines).totalQuantity('o-1'), 7);
    sinon.assert.calledOnceWithExactly(lines.findMany, { where: { orderId: 'o-1' }, orderBy: 'lineNo' });
  });
});
