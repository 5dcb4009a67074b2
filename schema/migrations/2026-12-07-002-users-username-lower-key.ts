/**
 * Migration 2: usernames unique case-insensitively, as emails already are. Without it `ada` and
 * `ADA` could both exist, and one user could pass for another.
 *
 * The unique index `users_username_lower_key` on lower(username) mirrors `users_email_lower_key`.
 * Rows that already clash are never dropped or renamed: the migration refuses to run, names them,
 * and leaves the table as it was, so an operator decides which account keeps the name.
 * The case-sensitive `users_username_key` of migration 1 stays: an exact duplicate still reports
 * that constraint, and the user repository maps both to the same ConflictError.
 */
import { sql, type Kysely } from 'kysely';
import { UniqueViolationError } from '../../lib/errors.js';

/** The index this migration creates. */
const INDEX = 'users_username_lower_key';
/** Clashing names listed in the error at most; the rest are counted. */
const MAX_LISTED = 20;

interface Clash {
  /** lower(username), shared by every row of the clash. */
  readonly name: string;
  /** Their ids, ascending, comma-separated. */
  readonly ids: string;
}

/** The refusal: each clashing lower-cased name with its ids, and nothing else about the rows. */
function clashMessage(clashes: readonly Clash[]): string {
  const listed = clashes.slice(0, MAX_LISTED).map((clash) => `'${clash.name}' (ids ${clash.ids})`);
  const more = clashes.length > MAX_LISTED ? `, and ${clashes.length - MAX_LISTED} more` : '';
  return (
    `cannot make usernames unique case-insensitively: ${clashes.length} username(s) differ only in case: ` +
    `${listed.join(', ')}${more}. Rename all but one user of each (updateUser), then run the migration again; ` +
    'nothing was changed'
  );
}

/**
 * Creates the unique index on lower(username), after checking that no two users' names differ
 * only in case. The Migrator runs it in a transaction; the table is locked against writes first
 * (SHARE, the lock CREATE INDEX takes anyway), so no clashing row can slip in between the check
 * and the index.
 *
 * @example
 * await up(db); // normally through migrateToLatest(db)
 * @throws UniqueViolationError (constraint `users_username_lower_key`, column `username`) whose
 * message names each clashing lower-cased username and the ids sharing it; nothing is changed.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`lock table users in share mode`.execute(db);
  const { rows } = await sql<Clash>`
    select lower(username) as name, string_agg(id::text, ', ' order by id) as ids
    from users
    group by lower(username)
    having count(*) > 1
    order by lower(username)
  `.execute(db);
  if (rows.length > 0) {
    throw new UniqueViolationError(clashMessage(rows), {
      code: '23505',
      constraint: INDEX,
      table: 'users',
      column: 'username',
      columns: ['username'],
    });
  }
  // case-insensitive uniqueness, even for a row written by raw SQL
  await db.schema
    .createIndex(INDEX)
    .on('users')
    .unique()
    .expression(sql`lower(username)`)
    .execute();
}

/**
 * Drops the index; usernames are then unique case-sensitively only (users_username_key).
 *
 * @example
 * await down(db); // normally through migrateDown(db)
 * @throws Error (from pg) when the index does not exist.
 */
export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex(INDEX).execute();
}
