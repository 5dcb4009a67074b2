/**
 * The User a UserRepository returns: a `users` row without its password hash, and the one
 * mapper that removes the hash from every row before it leaves the repository.
 */
import type { Selectable } from 'kysely';
import type { Users } from '../../schema/db.js';

/**
 * A user as the application sees it: every column of the generated `Users` row except
 * `passwordHash`, which never leaves the repository (not as a property, not in JSON, not in a log).
 * `id` is the int8 key as a string.
 *
 * @example
 * const user: User | undefined = await users.getUserById('42');
 * if (user?.isActive) console.log(user.username, user.createdAt.toISOString());
 */
export type User = Omit<Selectable<Users>, 'passwordHash'>;

/**
 * The row -> User mapper every UserRepository method goes through: a new object with every
 * column of `row` but `passwordHash`.
 *
 * @example
 * const user = toUser(await repository.getById(id)); // no passwordHash property
 * @throws never.
 */
export function toUser(row: Selectable<Users>): User {
  const { passwordHash: _omitted, ...user } = row;
  return user;
}
