/**
 * DROP DATABASE … WITH (FORCE), once the sessions of the pools that used it have gone.
 */
import type pg from 'pg';

/**
 * Waits up to `waitMs` for the database's sessions to end, then drops it WITH (FORCE). pg-pool's
 * end() resolves before its idle connections have closed, and a session the drop terminates
 * would then report the termination to a pool no one listens to any more, which crashes the
 * process with an unhandled 'error' event.
 * @throws pg's error when the drop itself fails.
 */
export async function dropDatabase(client: pg.Client, name: string, waitMs = 5_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const { rows } = await client.query<{ n: number }>(
      'select count(*)::int as n from pg_stat_activity where datname = $1',
      [name],
    );
    if ((rows[0]?.n ?? 0) === 0 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await client.query(`drop database if exists "${name.replace(/"/g, '""')}" with (force)`);
}
