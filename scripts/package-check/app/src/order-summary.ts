import type { Repository } from 'kysely-repository';
import type { DB } from './db.js';

/** The part of the order-lines repository the summary needs (what its spec stubs). */
export type OrderLineReader = Pick<Repository<DB, 'orderLines'>, 'findMany'>;

/** Totals of an order, from its lines. */
export class OrderSummary {
  readonly #lines: OrderLineReader;

  constructor(lines: OrderLineReader) {
    this.#lines = lines;
  }

  async totalQuantity(orderId: string): Promise<number> {
    const lines = await this.#lines.findMany({ where: { orderId }, orderBy: 'lineNo' });
    return lines.reduce((sum, line) => sum + line.qty, 0);
  }
}
