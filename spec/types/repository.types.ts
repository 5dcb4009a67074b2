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
