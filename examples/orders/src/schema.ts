/**
 * The sample orders service's schema: its own tables, keys and migrations (a uuid key, a bigint
 * identity, a composite key, check constraints), nothing of the package's users table.
 */
import { sql, type ColumnType, type Generated } from 'kysely';
import type { MigrationProvider } from 'kysely/migration';

export interface OrdersDB {
  customers: { id: Generated<string>; email: string; name: string };
  products: { sku: string; name: string; priceCents: number; stock: number };
  orders: {
    id: Generated<string>;
    customerId: string;
    status: Generated<'placed' | 'cancelled'>;
    totalCents: string | number;
    placedAt: ColumnType<Date, Date | undefined, Date>;
  };
  orderLines: { orderId: string; lineNo: number; sku: string; qty: number; priceCents: number };
}

/** The service's migrations, as an application keeps them. */
export const ordersMigrations: MigrationProvider = {
  getMigrations: () =>
    Promise.resolve({
      '2026_12_01_catalog': {
        up: async (db) => {
          await sql`create table customers (
            id uuid primary key default gen_random_uuid(),
            email text not null unique,
            name text not null)`.execute(db);
          await sql`create table products (
            sku text primary key,
            name text not null,
            price_cents int not null check (price_cents > 0),
            stock int not null check (stock >= 0))`.execute(db);
        },
      },
      '2026_12_02_orders': {
        up: async (db) => {
          await sql`create table orders (
            id bigint generated always as identity primary key,
            customer_id uuid not null references customers,
            status text not null default 'placed' check (status in ('placed', 'cancelled')),
            total_cents bigint not null,
            placed_at timestamptz not null default now())`.execute(db);
          await sql`create table order_lines (
            order_id bigint not null references orders on delete cascade,
            line_no int not null,
            sku text not null references products,
            qty int not null check (qty > 0),
            price_cents int not null,
            primary key (order_id, line_no))`.execute(db);
        },
      },
    }),
};
