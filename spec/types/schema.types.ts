/**
 * Type specs for the generated schema (compiled by `tsc --noEmit` in `npm run lint`, never run).
 * Each `@ts-expect-error` line must stay an error: if the generated types ever allow it, the
 * directive itself fails the build. Every rejected call sits next to the same call done right,
 * so the error is the one intended.
 */
import { expectTypeOf } from 'expect-type';
import type { Insertable, Kysely, Selectable, Updateable } from 'kysely';
import type { DB, Users } from '../../lib/index.js';

declare const db: Kysely<DB>;
const hash = '$2b$12$abcdefghijklmnopqrstuuJ2Xq1e7n1mBv4vW8CwE1G6eK5bJ7a2u';

// Rows: ids are strings (pg returns int8 as a string), timestamps are Dates, columns camelCase.
expectTypeOf<Selectable<Users>>().toEqualTypeOf<{
  id: string;
  username: string;
  email: string;
  passwordHash: string;
  isActive: boolean;
  createdAt: Date;
  updatedAt: Date;
}>();

// Inserts: no id (generated always); defaults are optional; the rest is required. (`branded`
// compares Kysely's intersection type with the flat object.)
expectTypeOf<Insertable<Users>>().branded.toEqualTypeOf<{
  username: string;
  email: string;
  passwordHash: string;
  isActive?: boolean;
  createdAt?: Date;
  updatedAt?: Date;
}>();

// Updates: every column but the id, all optional.
expectTypeOf<Updateable<Users>>().toEqualTypeOf<{
  username?: string;
  email?: string;
  passwordHash?: string;
  isActive?: boolean;
  createdAt?: Date;
  updatedAt?: Date;
}>();

expectTypeOf<keyof DB>().toEqualTypeOf<'users'>();

export async function selects(): Promise<void> {
  const row = await db.selectFrom('users').select(['id', 'isActive', 'createdAt']).executeTakeFirstOrThrow();
  expectTypeOf(row).toEqualTypeOf<{ id: string; isActive: boolean; createdAt: Date }>();

  // @ts-expect-error: there is no such column
  await db.selectFrom('users').select('nickname').execute();
  // @ts-expect-error: columns are camelCase in TypeScript (password_hash is passwordHash)
  await db.selectFrom('users').select('password_hash').execute();
  // @ts-expect-error: there is no such column to filter on
  await db.selectFrom('users').selectAll().where('deletedAt', 'is', null).execute();
  // @ts-expect-error: there is no such table
  await db.selectFrom('accounts').selectAll().execute();
}

export async function inserts(): Promise<void> {
  const ada = { username: 'ada', email: 'ada@example.com', passwordHash: hash };
  const users = db.insertInto('users');
  await users.values(ada).execute();
  await users.values({ ...ada, isActive: false }).execute();

  // @ts-expect-error: username is a string
  await users.values({ username: 42, email: 'ada@example.com', passwordHash: hash }).execute();
  // @ts-expect-error: isActive is a boolean
  await users.values({ ...ada, isActive: 'yes' }).execute();
  // @ts-expect-error: passwordHash is required
  await users.values({ username: 'ada', email: 'ada@example.com' }).execute();
  // @ts-expect-error: the id is generated always; an insert cannot set it
  await users.values({ ...ada, id: '1' }).execute();
}

export async function updates(): Promise<void> {
  await db.updateTable('users').set({ email: 'new@example.com' }).where('id', '=', '1').execute();

  // @ts-expect-error: the id is generated always; an update cannot set it
  await db.updateTable('users').set({ id: '2' }).where('id', '=', '1').execute();
  // @ts-expect-error: createdAt is a Date
  await db.updateTable('users').set({ createdAt: 1700000000 }).where('id', '=', '1').execute();
}
