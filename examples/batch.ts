/**
 * A batch of three users created in one transaction, then the same kind of batch failing on its
 * third user: the transaction rolls back whole and none of the three is kept.
 *
 *   npx tsx examples/batch.ts
 */
import { ConflictError, UserRepository, withTransaction, type Database, type DB } from '../lib/index.js';
import { openExampleDatabase, runSuffix, type Print } from './open-database.js';

/** Runs both batches on `database`, printing what was kept. */
export async function batch(
  database: Database<DB>,
  print: Print,
  options: { bcryptCost?: number } = {},
): Promise<void> {
  const users = new UserRepository(database.db, { policy: { bcryptCost: options.bcryptCost ?? 12 } });
  const run = runSuffix();
  const names = ['alice', 'bob', 'carol'].map((n) => `${n}_${run}`);

  const created = await withTransaction(database.db, async () => {
    const made = [];
    for (const username of names) {
      made.push(await users.createUser({ username, email: `${username}@example.com`, password: 'batch-password-1' }));
    }
    return made;
  });
  print(`batch 1:  created ${created.map((u) => `#${u.id} ${u.username}`).join(', ')} in one transaction`);

  const second = ['dave', 'erin'].map((n) => `${n}_${run}`);
  try {
    await withTransaction(database.db, async () => {
      for (const username of second) {
        await users.createUser({ username, email: `${username}@example.com`, password: 'batch-password-2' });
      }
      // the third clashes with a user of the first batch
      await users.createUser({ username: names[0]!, email: `again_${run}@example.com`, password: 'batch-password-2' });
    });
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    print(`batch 2:  failed on its third user: ${error.message}`);
  }
  const kept = await Promise.all(second.map((username) => users.getUserByUsername(username)));
  print(`batch 2:  ${kept.filter(Boolean).length} of its users kept (the transaction rolled back whole)`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const database = await openExampleDatabase();
  try {
    await batch(database, console.log);
  } finally {
    await database.close();
  }
}
