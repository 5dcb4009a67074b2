/**
 * Maintenance: table info for `users`, VACUUM ANALYZE, pool status.
 *
 *   npx tsx examples/maintenance.ts
 */
import { getTableInfo, vacuumAnalyze, type Database, type DB } from '../lib/index.js';
import { openExampleDatabase, type Print } from './open-database.js';

/** Prints what getTableInfo reports about `users`, runs VACUUM ANALYZE and prints the pool. */
export async function maintenance(database: Database<DB>, print: Print): Promise<void> {
  const before = await getTableInfo(database.db, 'users');
  print(
    `table:    ${before.name}: ${before.rowCount} rows (planner estimate ${before.estimatedRows ?? 'none yet'}), ${before.sizeBytes} bytes, ${before.deadTuples} dead tuples`,
  );
  print(`columns:  ${before.columns.map((c) => `${c.name} ${c.type}${c.nullable ? '' : ' not null'}`).join(', ')}`);
  print(`keys:     primary (${before.primaryKey.join(', ')}); indexes ${before.indexes.map((i) => i.name).join(', ')}`);

  await vacuumAnalyze(database.db, 'users');
  const after = await getTableInfo(database.db, 'users');
  print(
    `vacuumed: last vacuum ${after.lastVacuum?.toISOString() ?? '-'}, last analyze ${after.lastAnalyze?.toISOString() ?? '-'}, estimate now ${after.estimatedRows}`,
  );

  const { engine, pool } = database.status();
  print(
    `pool:     engine ${engine}, ${pool.total} open / ${pool.idle} idle / ${pool.waiting} waiting (max ${pool.max})`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const database = await openExampleDatabase();
  try {
    await maintenance(database, console.log);
  } finally {
    await database.close();
  }
}
