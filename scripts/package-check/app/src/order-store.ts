import { Repository, withTransaction } from 'kysely-repository';
import type { Kysely, Selectable } from 'kysely';
import type { DB, OrderLines, Orders } from './db.js';

export type Order = Selectable<Orders>;
export type OrderLine = Selectable<OrderLines>;
export interface NewLine {
  readonly sku: string;
  readonly qty: number;
}

/** Orders (uuid key) and their lines (composite key: orderId + lineNo). */
export class OrderStore {
  readonly orders: Repository<DB, 'orders'>;
  readonly lines: Repository<DB, 'orderLines'>;
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
    // no primaryKey option: both keys are read from the catalog
    this.orders = new Repository(db, 'orders');
    this.lines = new Repository(db, 'orderLines');
  }

  /** Writes an order and its lines in one transaction: all of them or none. */
  async placeOrder(customer: string, lines: readonly NewLine[]): Promise<{ order: Order; lineCount: number }> {
    return withTransaction(this.#db, async () => {
      const order = await this.orders.create({ customer });
      const lineCount: number = await this.lines.createMany(
        lines.map((line, index) => ({ orderId: order.id, lineNo: index + 1, sku: line.sku, qty: line.qty })),
        { returning: false },
      );
      return { order, lineCount };
    });
  }

  findLine(orderId: string, lineNo: number): Promise<OrderLine | undefined> {
    return this.lines.findById({ orderId, lineNo });
  }

  changeQuantity(orderId: string, lineNo: number, qty: number): Promise<OrderLine | undefined> {
    return this.lines.update({ orderId, lineNo }, { qty });
  }

  removeLine(orderId: string, lineNo: number): Promise<boolean> {
    return this.lines.delete({ orderId, lineNo });
  }
}
