/**
 * The rules a user's fields must follow, as pure functions: each returns the value to store
 * (normalised where the rule says so) or throws a ValidationError naming the field and the rule.
 * createUser, updateUser and changePassword all go through them; the table's check constraints
 * enforce the same rules once more in the database.
 */
import { booleanOption } from '../arguments.js';
import { isStorableText } from '../repository/column-values.js';
import { ValidationError } from '../errors.js';
import { resolveUserPolicy, type UserPolicy } from './user-policy.js';

/** Fewest characters of a username. */
export const USERNAME_MIN_LENGTH = 3;
/** Most characters of a username. */
export const USERNAME_MAX_LENGTH = 50;
/** Most characters of an email address, after trimming. */
export const EMAIL_MAX_LENGTH = 254;
/** Most rows a list or page may ask for. */
export const MAX_PAGE_LIMIT = 1000;
/** Rows a list or page gets when it does not say. */
export const DEFAULT_PAGE_LIMIT = 100;

const USERNAME_FORMAT = /^[A-Za-z0-9_.-]+$/;
/** local@domain.tld: no whitespace, control characters or second `@`; no empty domain label. */
const EMAIL_FORMAT = /^[^\s@\p{Cc}]+@[^\s@.\p{Cc}]+(?:\.[^\s@.\p{Cc}]+)+$/u;
/** The keys updateUser accepts. */
const CHANGEABLE = new Set(['username', 'email', 'isActive']);
/** A signed 64-bit integer in decimal. */
const INT8 = /^[+-]?\d{1,19}$/;
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

/** The fields of a new user, checked and normalised. */
export interface ValidNewUser {
  readonly username: string;
  /** Trimmed and lower-cased. */
  readonly email: string;
  readonly password: string;
}

/** The changes of updateUser, checked and normalised; absent keys are not changed. */
export interface ValidUserChanges {
  readonly username?: string;
  /** Trimmed and lower-cased. */
  readonly email?: string;
  readonly isActive?: boolean;
}

/** Code points, as PostgreSQL's char_length counts them. */
function characters(value: string): number {
  let count = 0;
  for (const _ of value) count++;
  return count;
}

function isMissing(value: unknown): boolean {
  return value === undefined || value === null;
}

/**
 * A username: 3 to 50 characters, each a letter, digit, `_`, `.` or `-`. Returned as given.
 *
 * @example
 * validateUsername('john_doe'); // 'john_doe'
 * validateUsername('jd'); // throws: Username must be at least 3 characters
 * @throws ValidationError (field `username`; rule `required`, `type`, `minLength`, `maxLength` or `format`).
 */
export function validateUsername(value: unknown): string {
  if (isMissing(value)) throw new ValidationError('username', 'required', 'Username is required');
  if (typeof value !== 'string') throw new ValidationError('username', 'type', 'Username must be a string');
  const length = characters(value);
  if (length < USERNAME_MIN_LENGTH) {
    throw new ValidationError('username', 'minLength', `Username must be at least ${USERNAME_MIN_LENGTH} characters`);
  }
  if (length > USERNAME_MAX_LENGTH) {
    throw new ValidationError('username', 'maxLength', `Username must be at most ${USERNAME_MAX_LENGTH} characters`);
  }
  if (!USERNAME_FORMAT.test(value)) {
    throw new ValidationError('username', 'format', 'Username may contain only letters, digits, _, . and -');
  }
  return value;
}

/**
 * An email address as stored: trimmed, lower-cased, `local@domain.tld` without whitespace, at
 * most 254 characters.
 *
 * @example
 * validateEmail('  John@Example.COM '); // 'john@example.com'
 * validateEmail('john@'); // throws: Valid email address is required
 * @throws ValidationError (field `email`; rule `required`, `type`, `maxLength` or `format`).
 */
export function validateEmail(value: unknown): string {
  if (isMissing(value)) throw new ValidationError('email', 'required', 'Valid email address is required');
  if (typeof value !== 'string') throw new ValidationError('email', 'type', 'Valid email address is required');
  if (!isStorableText(value)) throw new ValidationError('email', 'format', 'Valid email address is required');
  const email = normalizeEmail(value);
  if (characters(email) > EMAIL_MAX_LENGTH) {
    throw new ValidationError('email', 'maxLength', `Email must be at most ${EMAIL_MAX_LENGTH} characters`);
  }
  if (!EMAIL_FORMAT.test(email)) throw new ValidationError('email', 'format', 'Valid email address is required');
  return email;
}

/**
 * An email address as stored and looked up: trimmed and lower-cased, nothing checked.
 *
 * @example
 * normalizeEmail(' A@B.io '); // 'a@b.io'
 * @throws never.
 */
export function normalizeEmail(value: string): string {
  return value.trim().toLowerCase();
}

/**
 * A password under `policy`: at least `minLength` characters and at most `maxBytes` UTF-8
 * bytes (bcrypt's 72 by default). Returned as given: never trimmed, never truncated. The policy
 * goes through resolveUserPolicy first (undefined or null: the defaults; a missing key: its
 * default), so a bad policy is refused, never a check switched off.
 *
 * @example
 * validatePassword('hunter22', DEFAULT_USER_POLICY); // 'hunter22'
 * validatePassword('short', DEFAULT_USER_POLICY); // throws: Password must be at least 8 characters
 * @throws ValidationError (field `policy` or `policy.<name>`) for a policy resolveUserPolicy
 * refuses; (field `password` unless `field` names another; rule `required`, `type`, `format` (a
 * NUL byte or a lone surrogate), `minLength` or `maxBytes`). The message never contains the
 * password.
 */
export function validatePassword(
  value: unknown,
  policy?: Partial<Pick<UserPolicy, 'minLength' | 'maxBytes'>> | null,
  field = 'password',
): string {
  const { minLength, maxBytes } = resolveUserPolicy(policy);
  if (isMissing(value)) throw new ValidationError(field, 'required', 'Password is required');
  if (typeof value !== 'string') throw new ValidationError(field, 'type', 'Password must be a string');
  storable(value, field, 'Password');
  if (characters(value) < minLength) {
    throw new ValidationError(field, 'minLength', `Password must be at least ${minLength} characters`);
  }
  if (Buffer.byteLength(value, 'utf8') > maxBytes) {
    throw new ValidationError(field, 'maxBytes', `Password must be at most ${maxBytes} bytes`);
  }
  return value;
}

/**
 * The fields of createUser, checked in the original's order: username, email, password. Each
 * field of `input` is read once; an object that throws while it is read (a Proxy, a throwing
 * getter) is refused.
 *
 * @example
 * validateNewUser({ username: 'ann', email: 'Ann@x.io', password: 'secret-pw' }, policy);
 * @throws ValidationError for the first field that breaks a rule (field `user` when `input` is
 * not an object or cannot be read; `policy`… for a policy resolveUserPolicy refuses).
 */
export function validateNewUser(
  input: unknown,
  policy?: Partial<Pick<UserPolicy, 'minLength' | 'maxBytes'>> | null,
): ValidNewUser {
  const resolvedPolicy = resolveUserPolicy(policy);
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError('user', 'type', 'user must be an object with username, email and password');
  }
  let fields: { username: unknown; email: unknown; password: unknown };
  try {
    const { username, email, password } = input as Record<string, unknown>;
    fields = { username, email, password };
  } catch (error) {
    throw new ValidationError('user', 'type', 'user could not be read', { cause: error });
  }
  return {
    username: validateUsername(fields.username),
    email: validateEmail(fields.email),
    password: validatePassword(fields.password, resolvedPolicy),
  };
}

/**
 * The changes of updateUser: only `username`, `email` and `isActive` may appear (an undefined
 * value means "leave it"), each checked like createUser's. The object is read once (its keys,
 * then each value); one that throws while it is read (a Proxy, a throwing getter) is refused.
 *
 * @example
 * validateUserChanges({ email: 'New@x.io' }); // { email: 'new@x.io' }
 * validateUserChanges({ passwordHash: 'x' }); // throws ValidationError, field passwordHash
 * @throws ValidationError naming the key for any other key (`passwordHash`, `id`, `__proto__`, a
 * symbol…; rule `allowed`), or the field whose value breaks its rule; (field `changes`, rule
 * `type`) when `changes` is not an object or cannot be read.
 */
export function validateUserChanges(changes: unknown): ValidUserChanges {
  if (typeof changes !== 'object' || changes === null || Array.isArray(changes)) {
    throw new ValidationError('changes', 'type', 'changes must be an object');
  }
  const given = readChanges(changes);
  const out: { username?: string; email?: string; isActive?: boolean } = {};
  if (given.username !== undefined) out.username = validateUsername(given.username);
  if (given.email !== undefined) out.email = validateEmail(given.email);
  const isActive = given.isActive;
  if (isActive !== undefined) {
    if (typeof isActive !== 'boolean') throw new ValidationError('isActive', 'type', 'isActive must be true or false');
    out.isActive = isActive;
  }
  return out;
}

/**
 * The changeable values of `changes`, each read once, after its prototype and keys are checked.
 * @throws ValidationError naming a key that may not be changed, or (field `changes`) when the
 * object throws while it is read.
 */
function readChanges(changes: object): { username?: unknown; email?: unknown; isActive?: unknown } {
  try {
    const proto = Object.getPrototypeOf(changes) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      throw new ValidationError('__proto__', 'allowed', '__proto__ cannot be changed');
    }
    const keys = Reflect.ownKeys(changes);
    for (const key of keys) {
      const name = typeof key === 'symbol' ? key.toString() : key;
      if (typeof key === 'symbol' || !CHANGEABLE.has(key)) {
        const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name;
        const hint = name === 'passwordHash' ? ' (use changePassword)' : '';
        throw new ValidationError(
          shown,
          'allowed',
          `${shown} cannot be changed${hint}; only username, email and isActive can`,
        );
      }
    }
    const record = changes as Record<string, unknown>;
    const out: { username?: unknown; email?: unknown; isActive?: unknown } = {};
    for (const key of keys as string[]) out[key as 'username' | 'email' | 'isActive'] = record[key];
    return out;
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    throw new ValidationError('changes', 'type', 'changes could not be read', { cause: error });
  }
}

/**
 * A user id as SQL takes it: an int8 in decimal.
 *
 * @example
 * userId(42); // '42'
 * userId(42n); // '42'
 * @throws ValidationError (field `id`, rule `type`) for anything but a safe integer, a bigint, or
 * a decimal string, in int8 range.
 */
export function userId(value: unknown): string {
  let text: string | undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value)) text = String(value);
  else if (typeof value === 'bigint') text = value.toString();
  else if (typeof value === 'string' && INT8.test(value)) text = value;
  if (text !== undefined) {
    const n = BigInt(text);
    if (n >= INT8_MIN && n <= INT8_MAX) return n.toString();
  }
  throw new ValidationError('id', 'type', 'id must be an integer (a number, bigint or decimal string)');
}

/**
 * A string argument of a lookup, unchanged.
 * @throws ValidationError (rule `type`) naming `field` when `value` is not a string.
 */
export function requireString(value: unknown, field: string, label: string): string {
  if (typeof value !== 'string') throw new ValidationError(field, 'type', `${label} must be a string`);
  return storable(value, field, label);
}

/**
 * `value`, when PostgreSQL (and bcrypt, which stops at a NUL) take it exactly as given: no NUL
 * byte, no lone UTF-16 surrogate (which would be stored as U+FFFD, so two different passwords
 * could match each other).
 * @throws ValidationError (rule `format`) otherwise.
 */
function storable(value: string, field: string, label: string): string {
  if (!isStorableText(value)) {
    throw new ValidationError(field, 'format', `${label} contains a NUL byte or a lone UTF-16 surrogate`);
  }
  return value;
}

/**
 * A page size: an integer from 1 to 1000, 100 when undefined.
 * @throws ValidationError (field `limit`, rule `range`).
 */
export function pageLimit(value: unknown): number {
  if (value === undefined) return DEFAULT_PAGE_LIMIT;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_PAGE_LIMIT) {
    throw new ValidationError('limit', 'range', `limit must be an integer from 1 to ${MAX_PAGE_LIMIT}`);
  }
  return value;
}

/**
 * An offset: a non-negative safe integer, 0 when undefined.
 * @throws ValidationError (field `offset`, rule `range`).
 */
export function pageOffset(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ValidationError('offset', 'range', 'offset must be a non-negative integer');
  }
  return value;
}

/**
 * The activeOnly flag: true when undefined.
 * @throws ValidationError (field `activeOnly`, rule `type`) for anything but a boolean.
 */
export function activeOnly(value: unknown): boolean {
  return booleanOption(value, 'activeOnly', true);
}
