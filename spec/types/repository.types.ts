/**
 * Type specs for the return types of the repository methods (Repository, UserRepository),
 * compiled by `tsc --noEmit` in `npm run lint`, never run. Whoever adds a repository adds its
 * `expectTypeOf` assertions here, against a `Kysely<DB>` as in schema.types.ts, for example:
 *
 *   declare const users: UserRepository;
 *   expectTypeOf(users.getUserById('1')).resolves.toEqualTypeOf<User | undefined>();
 *   expectTypeOf<User>().not.toHaveProperty('passwordHash');
 */
export {};

// ---- UserRepository ---------------------------------------------------------------------------
// (aliased imports and a function scope, so other sections of this file cannot collide with these)
import { expectTypeOf as expectUserType } from 'expect-type';
import type { Kysely as UsersKysely, Selectable as UsersSelectable } from 'kysely';
import * as api from '../../lib/index.js';

/** Never called: tsc checks the assertions in its body. */
export function userRepositoryTypes(db: UsersKysely<api.DB>, users: api.UserRepository): void {
  type User = api.User;

  // User is the generated row without the hash: derived, not written by hand
  expectUserType<User>().toEqualTypeOf<Omit<UsersSelectable<api.Users>, 'passwordHash'>>();
  expectUserType<User>().not.toHaveProperty('passwordHash');
  expectUserType<User>().toHaveProperty('id').toEqualTypeOf<string>();
  expectUserType<User>().toHaveProperty('isActive').toEqualTypeOf<boolean>();
  expectUserType<User>().toHaveProperty('createdAt').toEqualTypeOf<Date>();

  // construction: a Kysely<DB>, options optional
  expectUserType(new api.UserRepository(db)).toEqualTypeOf<api.UserRepository>();
  new api.UserRepository(db, { policy: { bcryptCost: 10 }, hasher: new api.BcryptPasswordHasher({ cost: 10 }) });
  // @ts-expect-error: the policy has no such field
  new api.UserRepository(db, { policy: { cost: 10 } });

  // the repository is a UserStore, so apps can depend on the interface and stub it
  expectUserType(users).toExtend<api.UserStore>();
  expectUserType<api.BcryptPasswordHasher>().toExtend<api.PasswordHasher>();

  // every read resolves to User (never a row with its hash)
  expectUserType(users.createUser({ username: 'a', email: 'b', password: 'c' })).resolves.toEqualTypeOf<User>();
  expectUserType(users.getUserById('1')).resolves.toEqualTypeOf<User | undefined>();
  expectUserType(users.getUserById(1)).resolves.toEqualTypeOf<User | undefined>();
  expectUserType(users.getUserById(1n)).resolves.toEqualTypeOf<User | undefined>();
  expectUserType(users.getUserByUsername('a')).resolves.toEqualTypeOf<User | undefined>();
  expectUserType(users.getUserByEmail('a@b.c')).resolves.toEqualTypeOf<User | undefined>();
  expectUserType(users.updateUser('1', { email: 'x@y.z' })).resolves.toEqualTypeOf<User | undefined>();
  expectUserType(users.verifyPassword('a', 'b')).resolves.toEqualTypeOf<User | undefined>();
  expectUserType(users.listUsers()).resolves.toEqualTypeOf<User[]>();
  expectUserType(users.listUsersPage({ limit: 10 })).resolves.toEqualTypeOf<api.Page<User>>();
  expectUserType(users.deleteUser('1')).resolves.toEqualTypeOf<boolean>();
  expectUserType(users.restoreUser('1')).resolves.toEqualTypeOf<boolean>();
  expectUserType(users.changePassword('1', 'a', 'b')).resolves.toEqualTypeOf<boolean>();
  expectUserType(users.countUsers({ activeOnly: false })).resolves.toEqualTypeOf<number>();
  expectUserType(users.getUserStats()).resolves.toEqualTypeOf<api.UserStats>();
  expectUserType<api.UserStats>().toEqualTypeOf<{
    readonly totalUsers: number;
    readonly activeUsers: number;
    readonly inactiveUsers: number;
    readonly firstUserCreated: Date | null;
    readonly lastUserCreated: Date | null;
  }>();

  // updateUser takes only username, email and isActive
  void users.updateUser('1', { username: 'a', isActive: false });
  // @ts-expect-error: the hash is not a change updateUser takes (changePassword is)
  void users.updateUser('1', { passwordHash: 'x' });
  // @ts-expect-error: nor is the id
  void users.updateUser('1', { id: '2' });
  // createUser needs all three fields
  // @ts-expect-error: no password
  void users.createUser({ username: 'a', email: 'b' });
  // no generic Repository method is reachable through it
  expectUserType<api.UserRepository>().not.toHaveProperty('findById');
  expectUserType<api.UserRepository>().not.toHaveProperty('paginate');
}

// ---- Repository: where and allRows ------------------------------------------------------------
import { expectTypeOf as expectRepoType } from 'expect-type';
import type { Kysely as RepoKysely } from 'kysely';

/** Never called: tsc checks the assertions in its body. */
export function repositoryWhereTypes(db: RepoKysely<api.DB>): void {
  const users = new api.Repository(db, 'users', { secretColumns: ['passwordHash'], schemas: ['public'] });
  // every row is said with the exported symbol (or a callback); a where object names columns
  expectRepoType(users.updateMany(api.allRows, { email: 'x@example.com' })).resolves.toEqualTypeOf<number>();
  expectRepoType(users.count(api.allRows)).resolves.toEqualTypeOf<number>();
  expectRepoType(users.findMany({ where: api.allRows })).resolves.toEqualTypeOf<api.RowOf<api.DB, 'users'>[]>();
  // @ts-expect-error: the text 'all' is not the every-row symbol
  void users.updateMany('all', { email: 'x@example.com' });
  // @ts-expect-error: not a column
  void users.findOne({ nope: 1 });
}

// ---- Repository: keys, option columns, numeric columns, createMany ----------------------------
import { expectTypeOf as expectKeyType } from 'expect-type';
import type { ColumnType, Generated as KeyGenerated, Kysely as KeyKysely } from 'kysely';

interface KeySchema {
  orderLines: {
    orderId: string;
    lineNo: number;
    sku: string;
    qty: KeyGenerated<number>;
    price: ColumnType<string, number | string, number | string>;
    total: ColumnType<string, bigint | number | string, bigint | number | string>;
    doc: ColumnType<unknown, string, string> | null;
    version: KeyGenerated<number>;
    deletedAt: Date | null;
  };
}
type LineRow = api.RowOf<KeySchema, 'orderLines'>;

/** Never called: tsc checks the assertions in its body. */
export function repositoryKeyTypes(db: KeyKysely<KeySchema>): void {
  // a declared composite key: an object with every key column
  const lines = new api.Repository(db, 'orderLines', { primaryKey: ['orderId', 'lineNo'] });
  expectKeyType(lines.findById({ orderId: 'o1', lineNo: 1 })).resolves.toEqualTypeOf<LineRow | undefined>();
  expectKeyType(lines.update({ orderId: 'o1', lineNo: 1 }, { qty: 2 })).resolves.toEqualTypeOf<LineRow | undefined>();
  // @ts-expect-error: a composite key needs every column
  void lines.findById({ orderId: 'o1' });
  // @ts-expect-error: a composite key is not one value
  void lines.delete('o1');
  // @ts-expect-error: the key columns must be columns of the table
  void new api.Repository(db, 'orderLines', { primaryKey: ['orderId', 'lineNumber'] });

  // a key read from the catalog: a value or an object of columns, checked at run time
  const byCatalog = new api.Repository(db, 'orderLines');
  expectKeyType(byCatalog.findById({ orderId: 'o1', lineNo: 1 })).resolves.toEqualTypeOf<LineRow | undefined>();
  expectKeyType(byCatalog.findById('o1')).resolves.toEqualTypeOf<LineRow | undefined>();

  // option columns are the table's columns
  new api.Repository(db, 'orderLines', {
    softDelete: { column: 'deletedAt', kind: 'timestamp' },
    version: 'version',
    updatedAt: false,
    secretColumns: ['sku'],
  });
  // @ts-expect-error: not a column
  void new api.Repository(db, 'orderLines', { softDelete: { column: 'removedAt', kind: 'timestamp' } });
  // @ts-expect-error: a text column cannot be the version
  void new api.Repository(db, 'orderLines', { version: 'sku' });
  // @ts-expect-error: not a column
  void new api.Repository(db, 'orderLines', { updatedAt: 'changedAt' });
  // @ts-expect-error: not a column
  void new api.Repository(db, 'orderLines', { secretColumns: ['token'] });

  // increment takes numeric columns only: integers, numeric and int8 text, not text or json
  expectKeyType<api.NumericColumnOf<KeySchema, 'orderLines'>>().toEqualTypeOf<
    'lineNo' | 'qty' | 'price' | 'total' | 'version'
  >();
  void byCatalog.increment('o1', 'qty');
  // @ts-expect-error: a text column
  void byCatalog.increment('o1', 'sku');
  // @ts-expect-error: a json column
  void byCatalog.increment('o1', 'doc');

  // createMany resolves to the rows, or to the count without returning
  expectKeyType(lines.createMany([{ orderId: 'o', lineNo: 1, sku: 's', price: 1, total: 1 }])).resolves.toEqualTypeOf<
    LineRow[]
  >();
  expectKeyType(
    lines.createMany([{ orderId: 'o', lineNo: 1, sku: 's', price: 1, total: 1 }], { returning: false }),
  ).resolves.toEqualTypeOf<number>();
  expectKeyType(
    lines.createMany([{ orderId: 'o', lineNo: 1, sku: 's', price: 1, total: 1 }], { returning: true }),
  ).resolves.toEqualTypeOf<LineRow[]>();
}

// ---- Repository over a transaction: the schema is inferred from a Transaction<DB> too ----------
/** Never called: tsc checks the assertions in its body. */
export async function repositoryInTransactionTypes(db: KeyKysely<KeySchema>): Promise<void> {
  await api.withTransaction(db, async (trx) => {
    const lines = new api.Repository(trx, 'orderLines', { primaryKey: ['orderId', 'lineNo'] });
    expectKeyType(lines.findById({ orderId: 'o', lineNo: 1 })).resolves.toEqualTypeOf<LineRow | undefined>();
    await Promise.resolve();
  });
  await db.transaction().execute(async (trx) => {
    expectKeyType(new api.Repository(trx, 'orderLines')).toEqualTypeOf<api.Repository<KeySchema, 'orderLines'>>();
    await Promise.resolve();
  });
}
