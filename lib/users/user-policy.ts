/**
 * The password policy of a UserRepository: defaults and validation in one place.
 */
import { readOptions } from '../arguments.js';
import { ValidationError } from '../errors.js';

/** bcrypt hashes at most this many bytes of a password (and silently ignores the rest). */
export const BCRYPT_MAX_BYTES = 72;
const MIN_BCRYPT_COST = 4;
const MAX_BCRYPT_COST = 31;
/** Beyond bcrypt, a sanity bound for other hashers: longer passwords are refused, not hashed. */
const MAX_PASSWORD_BYTES = 4096;

/** What a password must be, and how hard it is hashed. */
export interface UserPolicy {
  /** Fewest characters (Unicode code points) a password may have. (Default: 8) */
  readonly minLength: number;
  /**
   * Most bytes (UTF-8) a password may have. Longer passwords are refused, never truncated. With
   * the default bcrypt hasher it may not exceed 72, bcrypt's limit. (Default: 72)
   */
  readonly maxBytes: number;
  /**
   * Cost (log2 rounds) of the default BcryptPasswordHasher, 4..31. A stored hash of a lower cost
   * is rehashed at this cost on the user's next successful login. Ignored when a `hasher` is
   * injected: that hasher's own settings decide. (Default: 12)
   */
  readonly bcryptCost: number;
}

/**
 * The default policy: passwords of 8 characters to 72 bytes, bcrypt cost 12.
 *
 * @example
 * const users = new UserRepository(db, { policy: { ...DEFAULT_USER_POLICY, minLength: 12 } });
 */
export const DEFAULT_USER_POLICY: UserPolicy = Object.freeze({
  minLength: 8,
  maxBytes: BCRYPT_MAX_BYTES,
  bcryptCost: 12,
});

function integerIn(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(`policy.${field}`, 'range', `policy.${field} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** The keys a policy may have. */
const POLICY_KEYS: readonly (keyof UserPolicy)[] = ['minLength', 'maxBytes', 'bcryptCost'];

/** Policies this module made: already checked, frozen, served as they are. */
const resolved = new WeakSet<object>([DEFAULT_USER_POLICY]);

/**
 * The policy with `overrides` over the defaults, checked. `overrides` is read once (a snapshot of
 * its own keys); undefined and null mean the defaults. A key that is missing takes its default; a
 * key that is not a policy key (a typo) is refused rather than ignored, so a bad policy can never
 * switch a check off.
 *
 * @example
 * resolveUserPolicy({ bcryptCost: 10 }); // { minLength: 8, maxBytes: 72, bcryptCost: 10 }
 * @throws ValidationError (field `policy`) when `overrides` is not a plain object or cannot be
 * read (a Proxy, a throwing getter); (field `policy.<name>`) for an unknown key, a value that is
 * not an integer in range, or a minLength above maxBytes.
 */
export function resolveUserPolicy(overrides?: Partial<UserPolicy> | null): UserPolicy {
  if (typeof overrides === 'object' && overrides !== null && resolved.has(overrides)) return overrides as UserPolicy;
  const given = readOptions(overrides, 'policy') as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(POLICY_KEYS as readonly string[]).includes(key)) {
      const name = key.length > 64 ? `${key.slice(0, 64)}…` : key;
      throw new ValidationError(
        `policy.${name}`,
        'allowed',
        `policy.${name} is not a policy setting; the settings are ${POLICY_KEYS.join(', ')}`,
      );
    }
  }
  const pick = (key: keyof UserPolicy): unknown => (given[key] === undefined ? DEFAULT_USER_POLICY[key] : given[key]);
  const maxBytes = integerIn(pick('maxBytes'), 'maxBytes', 1, MAX_PASSWORD_BYTES);
  const minLength = integerIn(pick('minLength'), 'minLength', 1, maxBytes);
  const bcryptCost = integerIn(pick('bcryptCost'), 'bcryptCost', MIN_BCRYPT_COST, MAX_BCRYPT_COST);
  const policy: UserPolicy = Object.freeze({ minLength, maxBytes, bcryptCost });
  resolved.add(policy);
  return policy;
}
