/**
 * The user lifecycle of the original's main example: create a user, fetch it by id, update the
 * email, verify the password, list, stats, pool status.
 *
 *   npx tsx examples/lifecycle.ts
 */
import { UserRepository, type Database, type DB } from '../lib/index.js';
import { openExampleDatabase, runSuffix, type Print } from './open-database.js';

/** Runs the lifecycle on `database`, printing each step. */
export async function lifecycle(
  database: Database<DB>,
  print: Print,
  options: { bcryptCost?: number } = {},
): Promise<void> {
  const users = new UserRepository(database.db, { policy: { bcryptCost: options.bcryptCost ?? 12 } });
  const name = `john_doe_${runSuffix()}`;

  const created = await users.createUser({
    username: name,
    email: `${name}@Example.com `,
    password: 'securepassword123',
  });
  print(`created:  #${created.id} ${created.username} <${created.email}> active=${created.isActive}`);

  const fetched = await users.getUserById(created.id);
  print(`fetched:  #${fetched?.id} ${fetched?.username} created ${fetched?.createdAt.toISOString()}`);

  const updated = await users.updateUser(created.id, { email: `${name}.new@example.com` });
  print(`updated:  email is now ${updated?.email}`);

  const verified = await users.verifyPassword(name, 'securepassword123');
  const refused = await users.verifyPassword(name, 'wrong password');
  print(
    `verified: right password -> ${verified ? `user #${verified.id}` : 'refused'}, wrong password -> ${refused ? 'accepted' : 'refused'}`,
  );

  const listed = await users.listUsers({ limit: 10 });
  print(`listed:   ${listed.length} active user(s): ${listed.map((u) => u.username).join(', ')}`);

  const stats = await users.getUserStats();
  print(
    `stats:    total ${stats.totalUsers}, active ${stats.activeUsers}, inactive ${stats.inactiveUsers}, ` +
      `first ${stats.firstUserCreated?.toISOString() ?? '-'}, last ${stats.lastUserCreated?.toISOString() ?? '-'}`,
  );

  const { engine, pool, queries, transactions } = database.status();
  print(
    `pool:     engine ${engine}, ${pool.total} open / ${pool.idle} idle / ${pool.waiting} waiting (max ${pool.max}); ` +
      `queries ${queries.succeeded} ok, ${queries.failed} failed; transactions ${transactions.committed} committed`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const database = await openExampleDatabase();
  try {
    await lifecycle(database, console.log);
  } finally {
    await database.close();
  }
}
