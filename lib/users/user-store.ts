/**
 * UserStore: the interface of the user repository, with the shapes of its arguments and
 * results. Apps depend on it and stub it; UserRepository implements it.
 */
import type { Id, Page } from '../repository/repository-types.js';
import type { User } from './user.js';

/** What createUser needs. */
export interface NewUser {
  /** 3-50 characters: letters, digits, `_`, `.`, `-`; stored as given, unique ignoring case. */
  readonly username: string;
  /** A valid address of at most 254 characters; stored trimmed and lower-cased. */
  readonly email: string;
  /** In plain text; only its hash is stored. 8 characters to 72 bytes by default. */
  readonly password: string;
}

/** What updateUser may change; every other key is refused. */
export interface UserChanges {
  readonly username?: string;
  readonly email?: string;
  /** false deactivates (like deleteUser), true reactivates (like restoreUser). */
  readonly isActive?: boolean;
}

/** listUsers' options. */
export interface ListUsersOptions {
  /** Rows to skip. (Default: 0) */
  readonly offset?: number;
  /** 1..1000. (Default: 100) */
  readonly limit?: number;
  /** Only active users. (Default: true) */
  readonly activeOnly?: boolean;
}

/** listUsersPage's options. */
export interface ListUsersPageOptions {
  /** 1..1000. (Default: 100) */
  readonly limit?: number;
  /** The previous page's nextCursor; omit or null for the first page. */
  readonly cursor?: string | null;
  /** Only active users. (Default: true) */
  readonly activeOnly?: boolean;
  /** Also count every matching user, as `total`. (Default: false) */
  readonly withTotal?: boolean;
}

/** countUsers' options. */
export interface CountUsersOptions {
  /** Only active users. (Default: true) */
  readonly activeOnly?: boolean;
}

/** What getUserStats reports. */
export interface UserStats {
  readonly totalUsers: number;
  readonly activeUsers: number;
  readonly inactiveUsers: number;
  /** When the first user was created; null when there is none. */
  readonly firstUserCreated: Date | null;
  /** When the newest user was created; null when there is none. */
  readonly lastUserCreated: Date | null;
}

/**
 * The user store an application depends on. UserRepository implements it; a spec can stub it
 * whole (`sinon.createStubInstance(UserRepository)`) or hand-write a fake. No method ever returns
 * a password hash.
 *
 * @example
 * class SignupService {
 *   constructor(private readonly users: UserStore) {}
 *   signUp(input: NewUser): Promise<User> {
 *     return this.users.createUser(input);
 *   }
 * }
 */
export interface UserStore {
  /**
   * Validates, hashes the password and inserts the user.
   * @throws ValidationError naming the field and rule; ConflictError when the username (in any
   * case: `ADA` is taken by `ada`) or email is taken (decided by the database's unique
   * constraints, so also under concurrency).
   */
  createUser(user: NewUser): Promise<User>;
  /** The user with this id (active or not), or undefined. @throws ValidationError for a malformed id. */
  getUserById(id: Id): Promise<User | undefined>;
  /**
   * The user with this username, compared case-insensitively (`ADA` finds `ada`; active or not),
   * or undefined. The returned username keeps the case it was stored with.
   */
  getUserByUsername(username: string): Promise<User | undefined>;
  /** The user with this email, compared case-insensitively (active or not), or undefined. */
  getUserByEmail(email: string): Promise<User | undefined>;
  /**
   * Changes username, email and/or isActive; returns the user, or undefined when there is none.
   * @throws ValidationError for any other key, a value that breaks its rule, or changes that
   * cannot be read (a Proxy, a throwing getter); ConflictError on a clash.
   */
  updateUser(id: Id, changes: UserChanges): Promise<User | undefined>;
  /** Deactivates the user (soft delete). False when absent or already inactive. */
  deleteUser(id: Id): Promise<boolean>;
  /** Reactivates a deactivated user. False when absent or already active. */
  restoreUser(id: Id): Promise<boolean>;
  /**
   * Users newest first (id breaks ties), by offset; undefined or null options mean the defaults.
   * @throws ValidationError for a bad limit or offset, or options that cannot be read.
   */
  listUsers(options?: ListUsersOptions | null): Promise<User[]>;
  /**
   * Users newest first, by keyset cursor; undefined or null options mean the defaults.
   * @throws ValidationError for a bad limit or cursor, or options that cannot be read.
   */
  listUsersPage(options?: ListUsersPageOptions | null): Promise<Page<User>>;
  /**
   * How many users there are (active ones by default; null options mean the defaults).
   * @throws ValidationError for a non-boolean activeOnly, or options that cannot be read.
   */
  countUsers(options?: CountUsersOptions | null): Promise<number>;
  /**
   * The user when the password is right and the user active; otherwise undefined. The username
   * is compared case-insensitively, as in getUserByUsername.
   */
  verifyPassword(username: string, password: string): Promise<User | undefined>;
  /**
   * Replaces the password when `current` is right. False when the user is absent or inactive or
   * `current` is wrong. @throws ValidationError when `next` breaks the policy.
   */
  changePassword(id: Id, current: string, next: string): Promise<boolean>;
  /** Totals and first/last creation time, in one query. */
  getUserStats(): Promise<UserStats>;
}
