/**
 * `npm start`: the user lifecycle, a batch in one transaction, and maintenance — on the embedded
 * engine when DATABASE_URL is unset, on DATABASE_URL when it is set, through the SSH tunnel when
 * DB_SSH_HOST is set as well.
 */
import { batch } from './batch.js';
import { lifecycle } from './lifecycle.js';
import { maintenance } from './maintenance.js';
import { openExampleDatabase } from './open-database.js';

const where = process.env['DATABASE_URL'] ? 'DATABASE_URL' : 'the embedded engine (DATABASE_URL is unset)';
console.log(`kysely-repository demo on ${where}${process.env['DB_SSH_HOST'] ? ', through the SSH tunnel' : ''}\n`);
const database = await openExampleDatabase();
try {
  await lifecycle(database, console.log);
  console.log();
  await batch(database, console.log);
  console.log();
  await maintenance(database, console.log);
} finally {
  await database.close();
}
