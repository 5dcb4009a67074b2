import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('order_lines')
    .addColumn('order_id', 'uuid', (column) => column.notNull().references('orders.id').onDelete('cascade'))
    .addColumn('line_no', 'integer', (column) => column.notNull())
    .addColumn('sku', 'text', (column) => column.notNull())
    .addColumn('qty', 'integer', (column) => column.notNull().check(sql`qty > 0`))
    .addPrimaryKeyConstraint('order_lines_pkey', ['order_id', 'line_no'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('order_lines').execute();
}
