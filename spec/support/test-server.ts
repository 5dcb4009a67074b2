/**
 * Chooses the PostgreSQL server a spec run uses and gives the run its own database.
 *
 * Order: TEST_DATABASE_URL; else postgres://postgres@127.0.0.1:5432; else a private throwaway
 * cluster started from the installed server binaries. The run's database is created once and
 * dropped at the end, after a failure, and on Ctrl-C.
 */
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { dropDatabase } from './drop-database.js';
import { startThrowawayCluster, findServerBinaries, type ThrowawayCluster } from './postgres-cluster.js';

export interface TestServer {
  /** Where the server came from, for the one line the run prints. */
  readonly source: 'TEST_DATABASE_URL' | 'local server' | 'throwaway cluster';
  /** A URL to the server's maintenance database (for CREATE/DROP DATABASE). */
  readonly adminUrl: string;
  readonly version: string;
  /** Set when the harness started the server itself (specs may stop and restart only this one). */
  readonly cluster?: ThrowawayCluster;
}

const LOCAL_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

// Kept on globalThis: mocha may load a spec's import graph as CommonJS or as ESM (a module with
// top-level await can only be imported), and both copies of this module must see one harness.
interface HarnessState {
  server: TestServer | undefined;
  database: { name: string; url: string } | undefined;
  scratch: Set<string>;
}
const STATE = Symbol.for('kysely-repository.spec-harness');
const state: HarnessState = ((globalThis as { [STATE]?: HarnessState })[STATE] ??= {
  server: undefined,
  database: undefined,
  scratch: new Set(),
});

/** Replaces the database name of a postgres URL. */
export function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(name)}`;
  return parsed.toString();
}

async function serverVersion(url: string, timeoutMs: number): Promise<string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ v: string }>('select current_setting($1) as v', ['server_version']);
    return rows[0]?.v ?? 'unknown';
  } finally {
    await client.end();
  }
}

async function chooseServer(): Promise<TestServer> {
  const explicit = process.env['TEST_DATABASE_URL'];
  if (explicit) {
    return { source: 'TEST_DATABASE_URL', adminUrl: explicit, version: await serverVersion(explicit, 10_000) };
  }
  try {
    return { source: 'local server', adminUrl: LOCAL_URL, version: await serverVersion(LOCAL_URL, 2_000) };
  } catch {
    // not running here: try a throwaway cluster
  }
  if (!findServerBinaries()) {
    throw new Error(
      'No PostgreSQL for the specs: set TEST_DATABASE_URL, start a server on 127.0.0.1:5432 with trust auth, ' +
        'or install the server binaries (Debian: apt-get install postgresql) so the specs can start their own.',
    );
  }
  const cluster = await startThrowawayCluster();
  const adminUrl = cluster.url('postgres');
  return { source: 'throwaway cluster', adminUrl, version: await serverVersion(adminUrl, 10_000), cluster };
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  if (!state.server) throw new Error('the spec harness has not started');
  const client = new pg.Client({ connectionString: state.server.adminUrl });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function newDatabaseName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** Starts (or finds) the server and creates the run's database. Called once by the root hook. */
export async function setUpTestServer(): Promise<TestServer> {
  state.server = await chooseServer();
  const name = newDatabaseName('kr_test');
  await admin((c) => c.query(`create database "${name}"`));
  state.database = { name, url: withDatabase(state.server.adminUrl, name) };
  return state.server;
}

/** Drops every database the run made and stops a throwaway cluster. Safe to call twice. */
export async function tearDownTestServer(): Promise<void> {
  if (!state.server) return;
  const names = [...state.scratch, ...(state.database ? [state.database.name] : [])];
  state.database = undefined;
  state.scratch.clear();
  try {
    for (const name of names) await admin((c) => dropDatabase(c, name));
  } finally {
    await state.server.cluster?.destroy();
    state.server = undefined;
  }
}

/** Last-resort synchronous cleanup for process exit: stops a throwaway cluster. */
export function tearDownTestServerSync(): void {
  state.server?.cluster?.destroySync();
}

/** The server this run uses. */
export function testServer(): TestServer {
  if (!state.server) throw new Error('the spec harness has not started (is spec/support/hooks.ts in .mocharc.json?)');
  return state.server;
}

/** The URL of this run's own database. */
export function testDatabaseUrl(): string {
  if (!state.database) throw new Error('the spec harness has not started (is spec/support/hooks.ts in .mocharc.json?)');
  return state.database.url;
}

/**
 * Creates another empty database on the run's server (for specs that need a clean one),
 * dropped with the run's own.
 */
export async function createScratchDatabase(prefix = 'kr_scratch'): Promise<{ url: string; drop(): Promise<void> }> {
  const name = newDatabaseName(prefix);
  await admin((c) => c.query(`create database "${name}"`));
  state.scratch.add(name);
  return {
    url: withDatabase(testServer().adminUrl, name),
    drop: async () => {
      state.scratch.delete(name);
      await admin((c) => dropDatabase(c, name));
    },
  };
}
