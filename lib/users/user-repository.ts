/**
 * UserRepository: the complete user store — create, look up, update, soft delete and restore,
 * list and page, count, verify and change passwords, stats — on a Repository<DB, 'users'> it
 * owns. Composition, not inheritance: no method of the generic Repository is reachable through
 * it, and every row passes through toUser() before it leaves, so a password hash never does.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DB } from '../../schema/db.js';
import { booleanOption, hasMethods, readOptions, requireKysely } from '../arguments.js';
import { databaseContext } from '../database-context.js';
import type { DatabaseTelemetry } from '../telemetry/database-telemetry.js';
import { mapError, ValidationError } from '../errors.js';
import { maskSecretColumns, type SecretColumns } from '../repository/secret-columns.js';
import { redactingLogger, silentLogger, type Logger, type LogMeta } from '../logger.js';
import { Repository } from '../repository/repository.js';
import type { Id, OrderBy, Page, RowOf } from '../repository/repository-types.js';
import { currentTransaction } from '../transaction/current-transaction.js';
import { afterCommit } from '../transaction/transaction-hooks.js';
import { withTransaction } from '../transaction/with-transaction.js';
import { BcryptPasswordHasher } from './bcrypt-password-hasher.js';
import type { PasswordHasher } from './password-hasher.js';
import { toUser, type User } from './user.js';
import { userConflict } from './user-conflict.js';
import { BCRYPT_MAX_BYTES, resolveUserPolicy, type UserPolicy } from './user-policy.js';
import type {
  CountUsersOptions,
  ListUsersOptions,
  ListUsersPageOptions,
  NewUser,
  UserChanges,
  UserStats,
  UserStore,
} from './user-store.js';
import {
  activeOnly,
  normalizeEmail,
  pageLimit,
  pageOffset,
  requireString,
  userId,
  validateNewUser,
  validatePassword,
  validateUserChanges,
  validateUsername,
} from './user-validation.js';

type UserRow = RowOf<DB, 'users'>;

/** Options of UserRepository. */
export interface UserRepositoryOptions {
  /** How passwords are hashed. (Default: a BcryptPasswordHasher at the policy's bcryptCost) */
  readonly hasher?: PasswordHasher;
  /**
   * Where user events go (created, updated, deleted, restored, password changed or rehashed,
   * login failed), with ids and usernames, never a password or hash: a failed login names the
   * attempted username only when it follows the username rule, else gives its length. Lines are
   * redacted once more on the way out. (Default: the Database's logger, else none)
   */
  readonly logger?: Logger;
  /** Password rules and bcrypt cost, over DEFAULT_USER_POLICY. */
  readonly policy?: Partial<UserPolicy>;
}

/** Newest first, id as the tie-breaker: the order the partial index users_active_created_at_idx has. */
const NEWEST_FIRST: OrderBy<DB, 'users'> = [
  ['createdAt', 'desc'],
  ['id', 'desc'],
];

/**
 * The hash unknown usernames are compared against, one per hasher (so at that hasher's cost),
 * made the first time it is needed.
 */
/**
 * The users table's columns in the package's migration order, and the secret one: a failing row
 * that does not line up with them (an application added columns) is hidden whole.
 */
const USERS_SECRET_COLUMNS: SecretColumns = {
  columns: ['id', 'username', 'email', 'password_hash', 'is_active', 'created_at', 'updated_at'],
  secret: new Set(['password_hash']),
};

const dummyHashes = new WeakMap<PasswordHasher, Promise<string>>();

/**
 * True when `value` follows the username rule (3-50 letters, digits, `_`, `.`, `-`), so it can
 * name a user: the table's check constraints keep every stored username within that rule.
 */
function isValidUsername(value: string): boolean {
  try {
    validateUsername(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * What a log line may say about a username someone typed: the name itself when it follows the
 * username rule, else only its length in characters (a string that breaks the rule is often a
 * password typed into the wrong box).
 */
function attemptedUsername(value: string): LogMeta {
  return isValidUsername(value) ? { username: value } : { usernameLength: Array.from(value).length };
}

function isHasher(value: unknown): value is PasswordHasher {
  return hasMethods(value, ['hash', 'verify', 'needsRehash']);
}

function isLogger(value: unknown): value is Logger {
  return hasMethods(value, ['error', 'warn', 'info', 'debug']);
}

/**
 * The user store on a Database's `users` table.
 *
 * - Validation (user-validation.ts) runs before anything is hashed or written; each failure is a
 *   ValidationError naming the field and rule, worded like the original ("Username must be at
 *   least 3 characters", "Valid email address is required", "Password must be at least 8 characters").
 * - Uniqueness is decided by the table's unique constraints, never by a check-then-insert: a
 *   clash is a ConflictError ("Username 'x' already exists", "Email 'x' already registered"),
 *   also when callers race. Inside an ambient transaction each write runs in a savepoint, so a
 *   ConflictError leaves the transaction usable.
 * - Passwords are hashed off the main thread (bcrypt's async API, cost 12 by default). An unknown
 *   username costs the same hashing work as a known one. A hash of a lower cost than the policy's
 *   is replaced on the next successful login.
 * - Usernames are unique and looked up case-insensitively (`ADA` finds `ada`, and cannot be
 *   created next to it); a user's name is stored and returned with the case it was given.
 * - Soft delete: deleteUser sets is_active = false; lookups by id, username and email still find
 *   the user (check `isActive`); lists, pages and counts show active users unless asked otherwise;
 *   an inactive user cannot log in or change the password.
 * - Calls join the ambient transaction of withTransaction() on the same Database; write events
 *   are logged only once it commits.
 *
 * @example
 * const users = new UserRepository(database.db, { policy: { bcryptCost: 12 } });
 * const ann = await users.createUser({ username: 'ann', email: 'Ann@Example.com', password: 'correct horse' });
 * await users.verifyPassword('ann', 'correct horse'); // ann (without any password hash)
 * await users.updateUser(ann.id, { email: 'ann@example.org' });
 * const page = await users.listUsersPage({ limit: 50 });
 */
export class UserRepository implements UserStore {
  /** The policy in force (defaults merged with the constructor's `policy`). */
  readonly policy: UserPolicy;
  readonly #db: Kysely<DB>;
  readonly #users: Repository<DB, 'users'>;
  /** The same table with no soft-delete filter: updateUser changes inactive users too. */
  readonly #anyUsers: Repository<DB, 'users'>;
  readonly #hasher: PasswordHasher;
  readonly #logger: Logger;
  readonly #telemetry: DatabaseTelemetry | undefined;

  /**
   * Builds the store on `db`; `options` is read once (undefined or null: the defaults).
   * @throws ValidationError (field `db`) when `db` is not a Kysely instance; (field `options`)
   * when options is not a plain object or cannot be read; (field `policy`, `policy.<name>`) for
   * a policy resolveUserPolicy refuses, or a maxBytes above 72 with the default bcrypt hasher;
   * (field `hasher`) for a hasher lacking hash, verify or needsRehash; (field `logger`) for a
   * logger lacking error, warn, info or debug.
   */
  constructor(db: Kysely<DB>, options?: UserRepositoryOptions | null) {
    requireKysely(db, 'db');
    const { hasher, logger, policy } = readOptions(options, 'options');
    this.policy = resolveUserPolicy(policy);
    if (hasher !== undefined && !isHasher(hasher)) {
      throw new ValidationError('hasher', 'type', 'hasher must have hash, verify and needsRehash methods');
    }
    if (logger !== undefined && !isLogger(logger)) {
      throw new ValidationError('logger', 'type', 'logger must have error, warn, info and debug methods');
    }
    if (hasher === undefined && this.policy.maxBytes > BCRYPT_MAX_BYTES) {
      throw new ValidationError(
        'policy.maxBytes',
        'range',
        `policy.maxBytes may not exceed ${BCRYPT_MAX_BYTES} with bcrypt, which ignores every byte after the 72nd`,
      );
    }
    this.#db = db;
    // the password hash is secret whatever its format: masked in query logs and error details
    this.#users = new Repository(db, 'users', {
      softDelete: { column: 'isActive', kind: 'boolean' },
      secretColumns: ['passwordHash'],
    });
    this.#anyUsers = new Repository(db, 'users', { secretColumns: ['passwordHash'] });
    this.#hasher = hasher ?? new BcryptPasswordHasher({ cost: this.policy.bcryptCost });
    const context = databaseContext(db as Kysely<unknown>);
    this.#telemetry = context?.telemetry;
    // a logger that throws never turns a done write into a failure: its errors are counted, not thrown
    this.#logger = logger
      ? redactingLogger(logger, [], undefined, () => {
          if (context) context.stats.logFailures++;
        })
      : (context?.logger ?? silentLogger);
  }

  /** Runs a method in an OpenTelemetry span (`UserRepository.createUser users`) when the Database reports to one. */
  #traced<T>(method: string, fn: () => Promise<T>): Promise<T> {
    const telemetry = this.#telemetry;
    return telemetry === undefined ? fn() : telemetry.call('UserRepository', method, 'users', fn);
  }

  /**
   * Validates the fields, hashes the password and inserts the user (email trimmed and
   * lower-cased); returns it without the hash.
   *
   * @example
   * const user = await users.createUser({ username: 'john_doe', email: 'john@example.com', password: 'secure_password_123' });
   * @throws ValidationError naming the field and rule (`username`: minLength, maxLength, format;
   * `email`: format, maxLength; `password`: minLength, maxBytes; any: required, type);
   * ConflictError (field `username` or `email`) when the database's unique constraint says the
   * value is taken; CheckViolationError if a value passed validation but not the table's checks.
   */
  createUser(user: NewUser): Promise<User> {
    return this.#traced('createUser', async () => {
      const { username, email, password } = validateNewUser(user, this.policy);
      const passwordHash = await this.#hasher.hash(password);
      let row: UserRow;
      try {
        row = await this.#write(() => this.#users.create({ username, email, passwordHash }));
      } catch (error) {
        throw userConflict(error, { username, email });
      }
      this.#event('user created', { userId: row.id, username: row.username });
      return toUser(row);
    });
  }

  /**
   * The user with this id, active or not, or undefined.
   *
   * @example
   * const user = await users.getUserById('42');
   * @throws ValidationError (field `id`) for an id that is not an int8.
   */
  getUserById(id: Id): Promise<User | undefined> {
    return this.#traced('getUserById', async () => {
      const row = await this.#users.findById(userId(id), { withDeleted: true });
      return row && toUser(row);
    });
  }

  /**
   * The user with this username compared case-insensitively (through the unique index on
   * lower(username)), active or not, or undefined. The user's username comes back with the case
   * it was stored with. A string that breaks the username rule names no user: undefined, without
   * a query.
   *
   * @example
   * const user = await users.getUserByUsername('John_Doe'); // finds john_doe
   * @throws ValidationError (field `username`) when it is not a string.
   */
  getUserByUsername(username: string): Promise<User | undefined> {
    return this.#traced('getUserByUsername', async () => {
      const row = await this.#findByUsername(requireString(username, 'username', 'Username'));
      return row && toUser(row);
    });
  }

  /**
   * The user with this email, compared trimmed and case-insensitively (through the unique index
   * on lower(email)), active or not, or undefined.
   *
   * @example
   * const user = await users.getUserByEmail(' John@Example.com ');
   * @throws ValidationError (field `email`) when it is not a string.
   */
  getUserByEmail(email: string): Promise<User | undefined> {
    return this.#traced('getUserByEmail', async () => {
      const normalized = normalizeEmail(requireString(email, 'email', 'Email'));
      const row = await this.#users.findOne((eb) => eb(eb.fn<string>('lower', [eb.ref('email')]), '=', normalized), {
        withDeleted: true,
      });
      return row && toUser(row);
    });
  }

  /**
   * Changes the user's username, email (trimmed and lower-cased) and/or isActive, revalidated as
   * in createUser, and moves updatedAt forward. Works on inactive users too (`isActive: true`
   * reactivates). With no changes it returns the user as it is.
   *
   * @example
   * const user = await users.updateUser('42', { email: 'new@example.com' });
   * @throws ValidationError naming the key for any key but username, email and isActive
   * (`passwordHash`, `id`, `__proto__`…), or naming the field whose value breaks its rule;
   * ValidationError (field `id`) for a malformed id; ConflictError when the new username or
   * email is taken.
   */
  updateUser(id: Id, changes: UserChanges): Promise<User | undefined> {
    return this.#traced('updateUser', async () => {
      const key = userId(id);
      const valid = validateUserChanges(changes);
      const fields = Object.keys(valid);
      if (fields.length === 0) return this.getUserById(key);
      let row: UserRow | undefined;
      try {
        // through the table without its soft-delete filter: updateUser also reactivates
        row = await this.#write(() => this.#anyUsers.update(key, valid));
      } catch (error) {
        throw userConflict(error, valid);
      }
      if (row === undefined) return undefined;
      this.#event('user updated', { userId: row.id, username: row.username, fields });
      return toUser(row);
    });
  }

  /**
   * Soft-deletes the user: is_active = false. True when it was active; false when it was
   * already inactive or does not exist.
   *
   * @example
   * await users.deleteUser('42'); // true, then false
   * @throws ValidationError (field `id`) for a malformed id.
   */
  deleteUser(id: Id): Promise<boolean> {
    return this.#traced('deleteUser', async () => {
      const key = userId(id);
      const deleted = await this.#users.delete(key);
      if (deleted) this.#event('user deleted', { userId: key });
      return deleted;
    });
  }

  /**
   * Undoes deleteUser: is_active = true. True when it was inactive; false when it was active or
   * does not exist.
   *
   * @example
   * await users.restoreUser('42');
   * @throws ValidationError (field `id`) for a malformed id.
   */
  restoreUser(id: Id): Promise<boolean> {
    return this.#traced('restoreUser', async () => {
      const key = userId(id);
      const restored = await this.#users.restore(key);
      if (restored) this.#event('user restored', { userId: key });
      return restored;
    });
  }

  /**
   * Users newest first (id breaks ties), `limit` of them after skipping `offset`. For deep
   * pages prefer listUsersPage: an offset still reads every row it skips.
   *
   * @example
   * const second = await users.listUsers({ offset: 20, limit: 20 });
   * @throws ValidationError for a limit outside 1..1000, a negative offset, a non-boolean
   * activeOnly; (field `options`) when options is not a plain object or cannot be read
   * (undefined and null mean the defaults).
   */
  listUsers(options?: ListUsersOptions | null): Promise<User[]> {
    return this.#traced('listUsers', async () => {
      const given = readOptions(options, 'options');
      const rows = await this.#users.findMany({
        orderBy: NEWEST_FIRST,
        limit: pageLimit(given.limit),
        offset: pageOffset(given.offset),
        withDeleted: !activeOnly(given.activeOnly),
      });
      return rows.map(toUser);
    });
  }

  /**
   * A page of users newest first (id breaks ties), by keyset: pass the previous page's
   * nextCursor as `cursor`. Each page costs the same however deep it is; for active users the
   * partial index users_active_created_at_idx serves it.
   *
   * @example
   * let page = await users.listUsersPage({ limit: 100 });
   * while (page.nextCursor) page = await users.listUsersPage({ limit: 100, cursor: page.nextCursor });
   * @throws ValidationError for a limit outside 1..1000, a non-boolean activeOnly or withTotal,
   * or a cursor that is not one this method issued; (field `options`) when options is not a plain object or
   * cannot be read (undefined and null mean the defaults).
   */
  listUsersPage(options?: ListUsersPageOptions | null): Promise<Page<User>> {
    return this.#traced('listUsersPage', async () => {
      const given = readOptions(options, 'options');
      const page = await this.#users.paginate({
        orderBy: NEWEST_FIRST,
        limit: pageLimit(given.limit),
        cursor: given.cursor ?? null,
        withDeleted: !activeOnly(given.activeOnly),
        withTotal: booleanOption(given.withTotal, 'withTotal'),
      });
      return { ...page, items: page.items.map(toUser) };
    });
  }

  /**
   * How many users there are: active ones unless `activeOnly` is false.
   *
   * @example
   * const everyone = await users.countUsers({ activeOnly: false });
   * @throws ValidationError for a non-boolean activeOnly; (field `options`) when options is not a
   * plain object or cannot be read (undefined and null mean the defaults).
   */
  countUsers(options?: CountUsersOptions | null): Promise<number> {
    return this.#traced('countUsers', async () => {
      const given = readOptions(options, 'options');
      return this.#users.count(undefined, { withDeleted: !activeOnly(given.activeOnly) });
    });
  }

  /**
   * The user when `password` is right and the user is active; undefined otherwise (unknown
   * username, wrong password, inactive user — the caller cannot tell which). The username is
   * compared case-insensitively, as getUserByUsername does. An unknown username
   * is compared against a dummy hash of the same cost, so the answer takes as long as for a real
   * one. On success, a hash weaker than the current policy is replaced (compare-and-set, so a
   * concurrent changePassword wins); a failure to store it is logged, never a failed login.
   *
   * @example
   * const user = await users.verifyPassword('john_doe', 'secure_password_123');
   * if (!user) throw new Unauthorized();
   * @throws ValidationError (field `username` or `password`) when one is not a string.
   */
  verifyPassword(username: string, password: string): Promise<User | undefined> {
    return this.#traced('verifyPassword', async () => {
      requireString(username, 'username', 'Username');
      requireString(password, 'password', 'Password');
      const dummy = await this.#dummyHash();
      const row = await this.#findByUsername(username);
      const matches = await this.#hasher.verify(password, row?.passwordHash ?? dummy);
      if (row === undefined || !matches || !row.isActive) {
        const reason = row === undefined ? 'unknown username' : !matches ? 'wrong password' : 'inactive user';
        // the attempted name only when it is a valid one: never a password typed into the wrong box
        this.#logger.info('login failed', {
          ...attemptedUsername(username),
          reason,
          ...(row ? { userId: row.id } : {}),
        });
        return undefined;
      }
      await this.#rehashIfNeeded(row, password);
      this.#logger.debug('login succeeded', { userId: row.id, username: row.username });
      return toUser(row);
    });
  }

  /**
   * Replaces the password of an active user when `current` is right: `next` is validated under
   * the policy, hashed and stored only if the stored hash is still the one `current` matched.
   * True when it was stored; false when the user is absent or inactive, `current` is wrong, or
   * the password changed meanwhile.
   *
   * @example
   * const changed = await users.changePassword(user.id, 'old password', 'new password 2');
   * @throws ValidationError (field `newPassword`) when `next` breaks the policy; (field
   * `currentPassword`) when `current` is not a string; (field `id`) for a malformed id.
   */
  changePassword(id: Id, current: string, next: string): Promise<boolean> {
    return this.#traced('changePassword', async () => {
      const key = userId(id);
      requireString(current, 'currentPassword', 'Current password');
      const nextPassword = validatePassword(next, this.policy, 'newPassword');
      const dummy = await this.#dummyHash();
      const row = await this.#users.findById(key);
      const matches = await this.#hasher.verify(current, row?.passwordHash ?? dummy);
      if (row === undefined || !matches) {
        this.#logger.info('password change refused', {
          userId: key,
          reason: row ? 'wrong password' : 'no active user',
        });
        return false;
      }
      const passwordHash = await this.#hasher.hash(nextPassword);
      const stored = await this.#write(() =>
        this.#users.updateMany({ id: key, passwordHash: row.passwordHash }, { passwordHash }),
      );
      if (stored === 0) {
        this.#logger.info('password change refused', { userId: key, reason: 'changed concurrently' });
        return false;
      }
      this.#event('password changed', { userId: key, username: row.username });
      return true;
    });
  }

  /**
   * Totals and the first and last creation time, in one query.
   *
   * @example
   * const { totalUsers, activeUsers } = await users.getUserStats();
   * @throws the mapped database error when the query fails.
   */
  getUserStats(): Promise<UserStats> {
    return this.#traced('getUserStats', async () => {
      const row = await this.#executor()
        .selectFrom('users')
        .select((eb) => [
          eb.fn.countAll<string>().as('totalUsers'),
          eb.fn.countAll<string>().filterWhere('isActive', '=', true).as('activeUsers'),
          eb.fn.countAll<string>().filterWhere('isActive', '=', false).as('inactiveUsers'),
          eb.fn.min('createdAt').as('firstUserCreated'),
          eb.fn.max('createdAt').as('lastUserCreated'),
        ])
        .executeTakeFirstOrThrow();
      return {
        totalUsers: Number(row.totalUsers),
        activeUsers: Number(row.activeUsers),
        inactiveUsers: Number(row.inactiveUsers),
        firstUserCreated: row.firstUserCreated ?? null,
        lastUserCreated: row.lastUserCreated ?? null,
      };
    });
  }

  // ---- internals -------------------------------------------------------------------------

  /**
   * The row whose username equals `username` ignoring case, active or not. Compared as
   * lower(username) = lower($1), the expression of the unique index users_username_lower_key,
   * so the index serves it and both sides lower-case under the same database locale. A string
   * that breaks the username rule names no row and is not sent (nor can a non-ASCII character
   * that some locale lower-cases to an ASCII letter match a name).
   */
  async #findByUsername(username: string): Promise<UserRow | undefined> {
    if (!isValidUsername(username)) return undefined;
    return this.#users.findOne(
      (eb) => eb(eb.fn<string>('lower', [eb.ref('username')]), '=', eb.fn<string>('lower', [eb.val(username)])),
      { withDeleted: true },
    );
  }

  /** Where direct queries run: the ambient transaction of withTransaction, else the pool. */
  #executor(): Kysely<DB> {
    return currentTransaction(this.#db) ?? this.#db;
  }

  /**
   * Runs a write; inside an ambient transaction, in a savepoint, so a constraint violation
   * (surfacing as ConflictError) rolls back only the write and the transaction goes on.
   */
  async #write<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await (currentTransaction(this.#db) === undefined ? fn() : withTransaction(this.#db, () => fn()));
    } catch (error) {
      // a failing row's detail shows the stored hash: masked here for the statements written
      // directly (the Repository masks its own)
      maskSecretColumns(error, USERS_SECRET_COLUMNS);
      throw error;
    }
  }

  /** Logs a write: now, or inside a transaction only once it commits. */
  #event(message: string, meta: LogMeta): void {
    if (currentTransaction(this.#db) === undefined) this.#logger.info(message, meta);
    else afterCommit(() => this.#logger.info(message, meta));
  }

  /** This hasher's dummy hash, made once (at the hasher's cost) the first time it is needed. */
  async #dummyHash(): Promise<string> {
    const hasher = this.#hasher;
    let pending = dummyHashes.get(hasher);
    if (pending === undefined) {
      pending = hasher.hash(randomBytes(18).toString('base64url'));
      dummyHashes.set(hasher, pending);
      pending.catch(() => dummyHashes.delete(hasher));
    }
    return pending;
  }

  /** After a successful login: replaces a hash weaker than the policy's, if still the stored one. */
  async #rehashIfNeeded(row: UserRow, password: string): Promise<void> {
    if (!this.#hasher.needsRehash(row.passwordHash)) return;
    try {
      const passwordHash = await this.#hasher.hash(password);
      const stored = await this.#write(() =>
        this.#users.updateMany({ id: row.id, passwordHash: row.passwordHash }, { passwordHash }),
      );
      if (stored > 0) this.#event('password rehashed', { userId: row.id });
    } catch (error) {
      this.#logger.warn('password rehash failed', { userId: row.id, error: mapError(error).message });
    }
  }
}
