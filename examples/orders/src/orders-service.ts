/**
 * A small orders service on kysely-repository: repositories for its tables, and withTransaction
 * where an operation writes more than one row. Its specs (../spec) run in the testing kit's sandbox.
 */
import { sql, type Kysely } from 'kysely';
import { afterCommit, NotFoundError, Repository, withTransaction } from '../../../lib/index.js';
import type { OrdersDB } from './schema.js';

/** What the service announces once an order is durable. */
export interface OrderEvent {
  readonly type: 'placed' | 'cancelled';
  readonly orderId: string;
}

/** Where events go (a queue in production, a sinon spy in the specs). */
export interface EventSink {
  publish(event: OrderEvent): void;
}

/** An order asked for more than is in stock. */
export class OutOfStockError extends Error {
  constructor(readonly sku: string) {
    super(`not enough ${sku} in stock`);
    this.name = 'OutOfStockError';
  }
}

export interface OrderWithLines {
  readonly id: string;
  readonly status: 'placed' | 'cancelled';
  readonly totalCents: number;
  readonly lines: readonly { readonly sku: string; readonly qty: number; readonly priceCents: number }[];
}

export class OrdersService {
  readonly customers: Repository<OrdersDB, 'customers'>;
  readonly products: Repository<OrdersDB, 'products', 'sku'>;
  readonly orders: Repository<OrdersDB, 'orders'>;
  readonly lines: Repository<OrdersDB, 'orderLines', readonly ['orderId', 'lineNo']>;

  constructor(
    private readonly db: Kysely<OrdersDB>,
    private readonly events: EventSink,
  ) {
    this.customers = new Repository(db, 'customers');
    this.products = new Repository(db, 'products', { primaryKey: 'sku' });
    this.orders = new Repository(db, 'orders');
    this.lines = new Repository(db, 'orderLines', { primaryKey: ['orderId', 'lineNo'] });
  }

  registerCustomer(email: string, name: string) {
    return this.customers.create({ email, name });
  }

  addProduct(sku: string, name: string, priceCents: number, stock: number) {
    return this.products.create({ sku, name, priceCents, stock });
  }

  /** Takes stock, writes the order and its lines, all or nothing; announces it after commit. */
  placeOrder(customerId: string, items: readonly { sku: string; qty: number }[]): Promise<OrderWithLines> {
    return withTransaction(this.db, async (trx) => {
      const lines = [];
      for (const [i, item] of items.entries()) {
        const product = await trx
          .updateTable('products')
          .set({ stock: sql`stock - ${item.qty}` })
          .where('sku', '=', item.sku)
          .where('stock', '>=', item.qty)
          .returning(['priceCents'])
          .executeTakeFirst();
        if (product === undefined) throw new OutOfStockError(item.sku);
        lines.push({ lineNo: i + 1, sku: item.sku, qty: item.qty, priceCents: product.priceCents });
      }
      const totalCents = lines.reduce((sum, line) => sum + line.qty * line.priceCents, 0);
      const order = await this.orders.create({ customerId, totalCents });
      await this.lines.createMany(lines.map((line) => ({ ...line, orderId: order.id })));
      afterCommit(() => this.events.publish({ type: 'placed', orderId: order.id }));
      return { id: order.id, status: order.status, totalCents, lines };
    });
  }

  /** Cancels a placed order and puts its stock back. */
  cancelOrder(orderId: string): Promise<void> {
    return withTransaction(this.db, async (trx) => {
      const order = await this.orders.update(orderId, { status: 'cancelled' });
      if (order === undefined) throw new NotFoundError('orders', orderId);
      const lines = await this.lines.findMany({ where: { orderId } });
      for (const line of lines) {
        await trx
          .updateTable('products')
          .set({ stock: sql`stock + ${line.qty}` })
          .where('sku', '=', line.sku)
          .execute();
      }
      afterCommit(() => this.events.publish({ type: 'cancelled', orderId }));
    });
  }

  /** A customer's orders with their lines: two statements, however many orders. */
  async ordersOf(customerId: string): Promise<OrderWithLines[]> {
    const orders = await this.orders.findMany({ where: { customerId }, orderBy: [['id', 'asc']] });
    if (orders.length === 0) return [];
    const lines = await this.db
      .selectFrom('orderLines')
      .selectAll()
      .where(
        'orderId',
        'in',
        orders.map((order) => order.id),
      )
      .orderBy('orderId')
      .orderBy('lineNo')
      .execute();
    return orders.map((order) => ({
      id: order.id,
      status: order.status,
      totalCents: Number(order.totalCents),
      lines: lines
        .filter((line) => line.orderId === order.id)
        .map(({ sku, qty, priceCents }) => ({ sku, qty, priceCents })),
    }));
  }

  /** Revenue of placed orders, in cents. */
  async revenueCents(): Promise<number> {
    const row = await this.db
      .selectFrom('orders')
      .select(sql<string>`coalesce(sum(total_cents), 0)`.as('total'))
      .where('status', '=', 'placed')
      .executeTakeFirstOrThrow();
    return Number(row.total);
  }
}
