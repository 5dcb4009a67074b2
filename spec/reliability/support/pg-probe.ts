/**
 * Looking at PostgreSQL from the outside, on connections of their own (plain pg clients, never
 * the package under test): backends of an application_name, table checksums, the users table.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { StoredUser } from './ledger.js';

/**
 * Runs `fn` on a fresh pg client for `url` and ends the client.
 *
 * @example
 * const n = await withClient(url, async (c) => (await c.query('select 1')).rowCount);
 * @throws whatever connecting or `fn` throws.
 */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'kr-reliability-probe' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * How many server backends have `applicationName` (pg_stat_activity, whole server).
 *
 * @example
 * const n = await backendCount(client, 'kr-rel-load');
 */
export async function backendCount(client: pg.Client, applicationName: string): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    'select count(*)::int as n from pg_stat_activity where application_name = $1',
    [applicationName],
  );
  return rows[0]?.n ?? 0;
}

/**
 * Polls until at most `expected` backends have `applicationName`, for up to `timeoutMs`;
 * returns the last count (backends end asynchronously after their client said goodbye).
 *
 * @example
 * expect(await backendsSettle(url, 'kr-rel-load', 0, 5_000)).to.equal(0);
 */
export async function backendsSettle(
  url: string,
  applicationName: string,
  expected: number,
  timeoutMs: number,
): Promise<number> {
  return withClient(url, async (client) => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const n = await backendCount(client, applicationName);
      if (n <= expected || performance.now() > deadline) return n;
      await sleep(50);
    }
  });
}

/** Samples the backends of an application_name while a phase runs; remembers the most seen. */
export interface BackendSampler {
  /** Stops sampling and returns the most backends seen at once. */
  stop(): Promise<number>;
}

/**
 * Starts sampling pg_stat_activity every `everyMs` on a connection of its own.
 *
 * @example
 * const sampler = await sampleBackends(url, 'kr-rel-load');
 * await load();
 * expect(await sampler.stop()).to.be.at.most(10);
 */
export async function sampleBackends(url: string, applicationName: string, everyMs = 200): Promise<BackendSampler> {
  const client = new pg.Client({ connectionString: url, application_name: 'kr-reliability-probe' });
  client.on('error', () => undefined);
  await client.connect();
  let max = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        max = Math.max(max, await backendCount(client, applicationName));
      } catch {
        return; // the server went away: sampling ends
      }
      await sleep(everyMs);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      await client.end().catch(() => undefined);
      return max;
    },
  };
}

/** A table's row count and an md5 of all its rows in key order. */
export interface TableChecksum {
  readonly rows: number;
  readonly md5: string;
}

/**
 * `md5(string_agg(t::text, ',' order by id))` over a table (its name a trusted identifier).
 *
 * @example
 * const before = await tableChecksum(client, 'users');
 */
export async function tableChecksum(client: pg.Client, table: string): Promise<TableChecksum> {
  const { rows } = await client.query<{ n: number; md5: string }>(
    `select count(*)::int as n, md5(coalesce(string_agg(t::text, ',' order by t.id), '')) as md5 from ${client.escapeIdentifier(table)} t`,
  );
  return { rows: rows[0]?.n ?? 0, md5: rows[0]?.md5 ?? '' };
}

/**
 * Every row of `users`, as the ledger compares them.
 *
 * @example
 * const report = await ledger.verify(await readUsers(url), compare);
 */
export async function readUsers(url: string): Promise<StoredUser[]> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{
      id: string;
      username: string;
      email: string;
      is_active: boolean;
      password_hash: string;
    }>('select id::text as id, username, email, is_active, password_hash from users');
    return rows.map((row) => ({
      id: row.id,
      username: row.username,
      email: row.email,
      isActive: row.is_active,
      passwordHash: row.password_hash,
    }));
  });
}

/**
 * The md5 of every row of each of `tables` (trusted identifiers, each with an `id` column), in
 * one round trip.
 *
 * @example
 * const sums = await tablesChecksum(client, ['users', 'reliability_counters']);
 */
export async function tablesChecksum(client: pg.Client, tables: readonly string[]): Promise<Record<string, string>> {
  const columns = tables.map(
    (table, i) =>
      `(select md5(coalesce(string_agg(t::text, ',' order by t.id), '')) from ${client.escapeIdentifier(table)} t) as t${i}`,
  );
  const { rows } = await client.query<Record<string, string>>(`select ${columns.join(', ')}`);
  return Object.fromEntries(tables.map((table, i) => [table, rows[0]?.[`t${i}`] ?? '']));
}
