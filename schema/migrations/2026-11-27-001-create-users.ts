/**
 * Migration 1: the `users` table of the Python original, with what a real service needs: an
 * identity key, case-insensitive email uniqueness, check constraints that mirror the user rules,
 * an index for "active users, newest first", and `updated_at` kept current by a trigger.
 *
 * Every constraint and index is named explicitly: the user repository maps the name of a
 * violated constraint to the field it guards.
 */
import { sql, type Kysely } from 'kysely';

/**
 * Creates `users`, its indexes and the trigger that keeps `updated_at` current.
 *
 * @example
 * await up(db); // normally through migrateToLatest(db)
 * @throws Error (from pg) when `users` or `users_set_updated_at()` already exists.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'bigint', (col) => col.generatedAlwaysAsIdentity().notNull())
    .addColumn('username', 'varchar(50)', (col) => col.notNull())
    .addColumn('email', 'varchar(255)', (col) => col.notNull())
    .addColumn('password_hash', 'text', (col) => col.notNull())
    .addColumn('is_active', 'boolean', (col) => col.notNull().defaultTo(true))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('users_pkey', ['id'])
    .addUniqueConstraint('users_username_key', ['username'])
    // username: 3-50 characters of letters, digits, `_`, `.`, `-`
    .addCheckConstraint('users_username_length_check', sql`char_length(username) between 3 and 50`)
    .addCheckConstraint('users_username_format_check', sql`username ~ '^[A-Za-z0-9_.-]+$'`)
    // email: at most 254 characters, stored trimmed and lower-cased, one `@` between non-blank parts
    .addCheckConstraint('users_email_length_check', sql`char_length(email) between 3 and 254`)
    .addCheckConstraint('users_email_normalized_check', sql`email = lower(btrim(email))`)
    .addCheckConstraint('users_email_format_check', sql`email ~ '^[^@[:space:]]+@[^@[:space:]]+$'`)
    // a password hash in modular crypt form (bcrypt is 60 characters); loose, so the hasher can change
    .addCheckConstraint(
      'users_password_hash_check',
      sql`char_length(password_hash) between 1 and 255 and password_hash !~ '[[:space:]]'`,
    )
    .execute();

  // case-insensitive uniqueness, even for a row written by raw SQL
  await db.schema
    .createIndex('users_email_lower_key')
    .on('users')
    .unique()
    .expression(sql`lower(email)`)
    .execute();

  // "active users, newest first": where is_active order by created_at desc, id desc
  await db.schema
    .createIndex('users_active_created_at_idx')
    .on('users')
    .columns(['created_at desc', 'id desc'])
    .where(sql<boolean>`is_active`)
    .execute();

  await sql`
    create function users_set_updated_at() returns trigger
    language plpgsql as $$
    begin
      -- an explicit new value wins; otherwise every update moves updated_at forward
      if new.updated_at is not distinct from old.updated_at then
        new.updated_at := now();
      end if;
      return new;
    end
    $$
  `.execute(db);
  await sql`
    create trigger users_set_updated_at before update on users
    for each row execute function users_set_updated_at()
  `.execute(db);

  await sql`comment on table users is 'Accounts: one row per user; soft-deleted rows have is_active = false.'`.execute(
    db,
  );
  await sql`comment on column users.username is '3-50 characters: letters, digits, _ . -'`.execute(db);
  await sql`comment on column users.email is 'Trimmed and lower-cased, at most 254 characters; unique.'`.execute(db);
  await sql`comment on column users.password_hash is 'Password hash (bcrypt); never returned by UserRepository.'`.execute(
    db,
  );
  await sql`comment on column users.is_active is 'false when the user is (soft) deleted.'`.execute(db);
  await sql`comment on column users.updated_at is 'Set to now() on every update by a trigger.'`.execute(db);
}

/**
 * Drops `users` (with its indexes and trigger) and the trigger function.
 *
 * @example
 * await down(db); // normally through migrateDown(db)
 * @throws Error (from pg) when `users` does not exist.
 */
export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('users').execute();
  await sql`drop function users_set_updated_at()`.execute(db);
}
