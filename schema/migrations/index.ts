/**
 * Every migration, imported statically (no directory scan), so the same list works under tsx
 * and from the compiled package. Add a new file as `YYYY-MM-DD-NNN-what.ts` and list it here;
 * names sort in the order they run.
 */
import type { Migration } from 'kysely/migration';
import * as createUsers from './2026-11-27-001-create-users.js';
import * as usersUsernameLowerKey from './2026-12-07-002-users-username-lower-key.js';

/**
 * The package's migrations by name, in the order they run.
 *
 * @example
 * Object.keys(migrations); // ['2026-11-27-001-create-users', '2026-12-07-002-users-username-lower-key']
 */
export const migrations: Readonly<Record<string, Migration>> = Object.freeze({
  '2026-11-27-001-create-users': createUsers,
  '2026-12-07-002-users-username-lower-key': usersUsernameLowerKey,
});
