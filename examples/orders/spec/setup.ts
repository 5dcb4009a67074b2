// The orders service's mocha setup (.mocharc.json `require`s it): each test runs in the testing
// kit's sandbox, on a database per worker cloned from a template migrated once. With
// ORDERS_SPEC_CLEANUP=truncate the same suite empties the tables after each test instead (what
// most suites do without a sandbox), to compare the two: see bench/testing-kit.ts.
import { sql } from 'kysely';
import { mochaSandbox } from '../../../lib/testing/index.js';
import { ordersMigrations, type OrdersDB } from '../src/schema.js';

const kit = mochaSandbox<OrdersDB>({ migrations: ordersMigrations });

export const { mochaGlobalSetup, mochaGlobalTeardown, database } = kit;

export const mochaHooks =
  process.env.ORDERS_SPEC_CLEANUP === 'truncate'
    ? {
        beforeAll: kit.mochaHooks.beforeAll,
        async afterEach(): Promise<void> {
          await sql`truncate order_lines, orders, products, customers restart identity cascade`.execute(database().db);
        },
        afterAll: kit.mochaHooks.afterAll,
      }
    : kit.mochaHooks;
