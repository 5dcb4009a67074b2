/**
 * `npm start`: the user lifecycle, a batch in one transaction, and maintenance — on the embedded
 * engine when DATABASE_URL is unset, on DATABASE_URL when it is set, through the SSH tunnel when
 * DB_SSH_HOST is set as well.
 *
 * A failure (a bad variable, a server that refuses the connection or the password) is one line,
 * `demo: <message>`, and exit code 1; set DEBUG to see the error in full. No line carries a password.
 */
import { inspect } from 'node:util';
import { mapError, type Database, type DB } from '../lib/index.js';
import { batch } from './batch.js';
import { lifecycle } from './lifecycle.js';
import { maintenance } from './maintenance.js';
import { openExampleDatabase } from './open-database.js';

async function main(): Promise<void> {
  const where = process.env['DATABASE_URL'] ? 'DATABASE_URL' : 'the embedded engine (DATABASE_URL is unset)';
  console.log(`kysely-repository demo on ${where}${process.env['DB_SSH_HOST'] ? ', through the SSH tunnel' : ''}\n`);
  let database: Database<DB> | undefined;
  try {
    database = await openExampleDatabase();
    await lifecycle(database, console.log);
    console.log();
    await batch(database, console.log);
    console.log();
    await maintenance(database, console.log);
  } finally {
    await database?.close();
  }
}

try {
  await main();
} catch (error) {
  // mapped: the package's messages (ConfigError, ConnectionError with its hint) carry no secret
  const mapped = mapError(error);
  console.error(`demo: ${mapped.message.replace(/\s*\n\s*/g, ' ')}`);
  if (process.env['DEBUG']) console.error(inspect(mapped, { depth: 4 }));
  process.exitCode = 1;
}
