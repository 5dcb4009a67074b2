/**
 * mochaSandbox(): mocha root hooks and global fixtures that run every test in a sandbox (one
 * transaction, rolled back after the test, whatever happened), on a Database made for the run:
 * per worker under `mocha --parallel`, each cloned from a template database migrated once.
 */
import { booleanOption, readOptions, requireKysely } from '../arguments.js';
import type { Database } from '../database.js';
import { openSandbox, type Sandbox } from './sandbox.js';
import {
  createTemplateDatabase,
  createTestDatabase,
  resolveTestServer,
  type TemplateDatabase,
  type TestDatabaseOptions,
} from './test-database.js';

/** What mocha hands a hook as `this` (the part the kit reads). */
export interface HookContext {
  readonly currentTest?: MochaTest;
}

/** A mocha test, as the kit wraps it. */
export interface MochaTest {
  fn?: ((this: unknown, ...args: never[]) => unknown) | undefined;
  fullTitle(): string;
}

/** Options of mochaSandbox. */
export interface MochaSandboxOptions<DB> extends Omit<TestDatabaseOptions, 'template'> {
  /**
   * The Database to sandbox, when the application's specs make their own; the kit then creates
   * and drops nothing, and `migrations` and `url` are not used. (Default: one the kit makes per
   * worker, see createTestDatabase)
   */
  readonly database?: Database<DB>;
  /**
   * Statements made outside a test's own async context while it runs (an HTTP server or a
   * beforeEach hook of the spec) run in that test's sandbox too. (Default: true)
   */
  readonly shared?: boolean;
}

/** Mocha's root hooks, global fixtures, and the run's Database. */
export interface MochaSandbox<DB> {
  /** Export as `mochaHooks` from a file mocha `--require`s. */
  readonly mochaHooks: {
    beforeAll(this: void): Promise<void>;
    beforeEach(this: HookContext): Promise<void>;
    afterEach(this: HookContext): Promise<void>;
    afterAll(this: void): Promise<void>;
  };
  /** Export as `mochaGlobalSetup`: picks the server once and migrates the template database. */
  readonly mochaGlobalSetup: () => Promise<void>;
  /** Export as `mochaGlobalTeardown`: drops the template database. */
  readonly mochaGlobalTeardown: () => Promise<void>;
  /**
   * The run's Database (this worker's), for the specs to build their repositories and services on.
   * @throws Error when called before mocha's root beforeAll hook ran.
   */
  readonly database: () => Database<DB>;
}

/** Where the global setup tells the workers (which inherit its environment) what it chose. */
const SERVER_VARIABLE = 'KYSELY_REPOSITORY_TEST_SERVER';
const TEMPLATE_VARIABLE = 'KYSELY_REPOSITORY_TEST_TEMPLATE';

/** Test functions marked by withoutSandbox(). */
const unsandboxed = new WeakSet<object>();

/**
 * Marks a test function to run without the sandbox: for code that needs connections of its own
 * (`propagation: 'requiresNew'`, LISTEN, advisory locks across connections). What it commits
 * stays: clean it up in the test.
 *
 * @example
 * it('publishes on commit', withoutSandbox(async () => { … }));
 * @throws never.
 */
export function withoutSandbox<F extends (this: never, ...args: never[]) => unknown>(fn: F): F {
  unsandboxed.add(fn);
  return fn;
}

/**
 * Root hooks that run each mocha test in a sandbox on the run's Database: beforeEach opens it
 * and makes it the ambient transaction of the test's async context; afterEach rolls it back,
 * after a failure or a timeout too (a statement the timed-out test makes later is refused).
 *
 * @example
 * // spec/setup.ts, in .mocharc's `require`
 * export const { mochaHooks, mochaGlobalSetup, mochaGlobalTeardown, database } = mochaSandbox<DB>({ migrations });
 * @throws ValidationError naming an option of the wrong form (`database` not a Database, `shared`
 * not a boolean); the hooks throw what createTestDatabase and openSandbox throw.
 */
export function mochaSandbox<DB>(given?: MochaSandboxOptions<DB>): MochaSandbox<DB> {
  const options = readOptions(given, 'options');
  if (options.database !== undefined) requireKysely((options.database as Partial<Database<DB>>).db, 'database.db');
  const shared = booleanOption(options.shared, 'shared', true);
  let database: Database<DB> | undefined = options.database;
  const made = options.database === undefined;
  let template: TemplateDatabase | undefined;
  const open = new WeakMap<MochaTest, { readonly sandbox: Sandbox; readonly fn: MochaTest['fn'] }>();

  const mochaHooks: MochaSandbox<DB>['mochaHooks'] = {
    async beforeAll() {
      if (!made || database !== undefined) return;
      const templateName = process.env[TEMPLATE_VARIABLE];
      const { database: _given, shared: _shared, ...rest } = options;
      database = await createTestDatabase<DB>({
        ...rest,
        url: process.env[SERVER_VARIABLE] ?? (await resolveTestServer(options.url)),
        ...(templateName ? { template: templateName } : {}),
      });
    },
    async beforeEach() {
      const test = this.currentTest;
      const fn = test?.fn;
      if (test === undefined || fn === undefined || unsandboxed.has(fn) || database === undefined) return;
      const sandbox = await openSandbox(database, { label: test.fullTitle(), shared });
      open.set(test, { sandbox, fn });
      test.fn = function (this: unknown, ...args: never[]) {
        return sandbox.run(() => fn.apply(this, args));
      };
    },
    async afterEach() {
      const test = this.currentTest;
      const entry = test && open.get(test);
      if (test === undefined || entry === undefined) return;
      open.delete(test);
      test.fn = entry.fn;
      await entry.sandbox.close();
    },
    async afterAll() {
      if (made && database !== undefined) {
        const closing = database.close();
        database = undefined;
        await closing;
      }
    },
  };

  return {
    mochaHooks,
    async mochaGlobalSetup() {
      if (!made) return;
      const server = await resolveTestServer(options.url);
      process.env[SERVER_VARIABLE] = server;
      if (/^pglite:/i.test(server)) return;
      template = await createTemplateDatabase(server, options.migrations);
      process.env[TEMPLATE_VARIABLE] = template.name;
    },
    async mochaGlobalTeardown() {
      const dropping = template?.drop();
      template = undefined;
      await dropping; // a failure is mocha's "global teardown failed", never silent
    },
    database: () => {
      if (database === undefined) {
        throw new Error(
          "the test Database is made in mocha's root beforeAll hook: call database() inside hooks and tests",
        );
      }
      return database;
    },
  };
}
