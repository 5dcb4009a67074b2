/**
 * stubRepository(): a sinon stub of a repository (or any class), each method a stub whose
 * `resolves()` / `returns()` values are type-checked against the method's own return type.
 */
import sinon from 'sinon';
import { ValidationError } from '../errors.js';

/** A stubbed instance: usable where a `T` is expected, each method a typed sinon stub. */
export type StubbedRepository<T> = sinon.SinonStubbedInstance<T>;

/** Options of stubRepository. */
export interface StubRepositoryOptions {
  /** Make the stubs in this sinon sandbox, so its restore() resets them. (Default: sinon's default sandbox) */
  readonly sandbox?: sinon.SinonSandbox;
}

/**
 * Stubs every method of `constructor`'s prototype chain (its constructor is not called, so no
 * Database is needed). Name the type to stub a generic class: `stubRepository<Repository<DB, 'orders'>>(Repository)`.
 *
 * @example
 * const users = stubRepository(UserRepository);
 * users.findById.resolves(user); // checked: must be a User | undefined
 * const service = new SignupService(users);
 * @throws ValidationError when `constructor` is not a class.
 */
export function stubRepository<T extends object>(
  constructor: (abstract new (...args: never[]) => unknown) & { readonly prototype: T },
  options: StubRepositoryOptions = {},
): StubbedRepository<T> {
  if (typeof constructor !== 'function' || typeof constructor.prototype !== 'object') {
    throw new ValidationError('constructor', 'type', 'stubRepository() takes a class, such as UserRepository');
  }
  const make = options.sandbox ?? sinon;
  return make.createStubInstance<T>(constructor);
}
