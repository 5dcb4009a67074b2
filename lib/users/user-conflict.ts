/**
 * Turns a unique violation on `users` into the user-facing ConflictError, by the name of the
 * constraint the database says was violated.
 */
import { ConflictError, mapError, UniqueViolationError } from '../errors.js';

/**
 * The unique constraints (and unique indexes) of `users`, and the field each guards. An exact
 * duplicate username trips users_username_key; one that differs only in case trips
 * users_username_lower_key (migration 2): both are the same clash to the user.
 */
const FIELD_BY_CONSTRAINT: Readonly<Record<string, 'username' | 'email'>> = {
  users_username_key: 'username',
  users_username_lower_key: 'username',
  users_email_lower_key: 'email',
};

/**
 * The error to throw for `error`, raised by a write of `values` to `users`: a ConflictError
 * ("Username 'x' already exists" / "Email 'x' already registered") for a violation of
 * users_username_key, users_username_lower_key or users_email_lower_key, with the
 * UniqueViolationError as `cause`;
 * anything else mapped onto the package's hierarchy and otherwise unchanged (a
 * CheckViolationError stays one).
 *
 * @example
 * try { await insert(); } catch (error) { throw userConflict(error, { username, email }); }
 * @throws never.
 */
export function userConflict(error: unknown, values: { readonly username?: string; readonly email?: string }): Error {
  const mapped = mapError(error);
  if (!(mapped instanceof UniqueViolationError) || mapped.constraint === undefined) return mapped;
  if (!Object.hasOwn(FIELD_BY_CONSTRAINT, mapped.constraint)) return mapped;
  const field = FIELD_BY_CONSTRAINT[mapped.constraint];
  const options = {
    cause: mapped,
    code: mapped.code,
    constraint: mapped.constraint,
    table: mapped.table,
    column: field,
  };
  return field === 'username'
    ? new ConflictError('username', `Username '${values.username ?? ''}' already exists`, options)
    : new ConflictError('email', `Email '${values.email ?? ''}' already registered`, options);
}
