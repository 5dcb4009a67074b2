/**
 * The PasswordHasher seam: how UserRepository turns passwords into stored hashes and checks
 * them, so an app can inject another algorithm and a spec can stub it.
 */

/**
 * Hashes and verifies passwords. Implementations must be asynchronous all the way (hashing is
 * slow on purpose and must not block the event loop) and must refuse rather than truncate a
 * password they cannot hash whole.
 *
 * @example
 * const plain: PasswordHasher = {
 *   hash: async (password) => argon2.hash(password),
 *   verify: async (password, hash) => argon2.verify(hash, password),
 *   needsRehash: (hash) => argon2.needsRehash(hash),
 * };
 * const users = new UserRepository(database.db, { hasher: plain });
 */
export interface PasswordHasher {
  /**
   * A new salted hash of `password`.
   * @throws ValidationError when the password cannot be hashed whole (too long for the algorithm).
   */
  hash(password: string): Promise<string>;
  /** Whether `password` matches `hash`. False (never a throw) for a malformed hash. */
  verify(password: string, hash: string): Promise<boolean>;
  /** Whether `hash` was made with weaker settings than this hasher's, so it should be replaced. */
  needsRehash(hash: string): boolean;
}
