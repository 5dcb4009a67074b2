/**
 * The default PasswordHasher: bcrypt through the native `bcrypt` package's asynchronous API,
 * which hashes on libuv's thread pool so the event loop keeps serving while it works.
 */
import bcrypt from 'bcrypt';
import { readOptions } from '../arguments.js';
import { ValidationError } from '../errors.js';
import type { PasswordHasher } from './password-hasher.js';
import { BCRYPT_MAX_BYTES, DEFAULT_USER_POLICY } from './user-policy.js';

/** `$2a$`, `$2b$`, `$2x$` or `$2y$`, then the two-digit cost, then 53 characters of salt and hash. */
const BCRYPT_HASH = /^\$2[abxy]\$(\d{2})\$[./A-Za-z0-9]{53}$/;

/** Options of BcryptPasswordHasher. */
export interface BcryptPasswordHasherOptions {
  /** Cost (log2 rounds), 4..31. (Default: 12) */
  readonly cost?: number;
}

/**
 * bcrypt with a configurable cost. Passwords longer than 72 UTF-8 bytes are refused (bcrypt
 * would silently ignore the rest); hashes of a lower cost report needsRehash.
 *
 * @example
 * const hasher = new BcryptPasswordHasher({ cost: 12 });
 * const hash = await hasher.hash('correct horse battery staple');
 * await hasher.verify('correct horse battery staple', hash); // true
 */
export class BcryptPasswordHasher implements PasswordHasher {
  /** The cost new hashes are made with. */
  readonly cost: number;

  /**
   * A hasher at `options.cost`; `options` is read once (undefined or null: the defaults).
   * @throws ValidationError (field `cost`) when the cost is not an integer from 4 to 31; (field
   * `options`) when options is not a plain object or cannot be read.
   */
  constructor(options?: BcryptPasswordHasherOptions | null) {
    const given = readOptions(options, 'options');
    const cost = given.cost ?? DEFAULT_USER_POLICY.bcryptCost;
    if (typeof cost !== 'number' || !Number.isInteger(cost) || cost < 4 || cost > 31) {
      throw new ValidationError('cost', 'range', 'bcrypt cost must be an integer from 4 to 31');
    }
    this.cost = cost;
  }

  /**
   * A new bcrypt hash (`$2b$<cost>$…`) of `password`, made off the main thread.
   * @throws ValidationError (field `password`) when it is not a string or exceeds 72 UTF-8 bytes.
   */
  async hash(password: string): Promise<string> {
    if (typeof password !== 'string') throw new ValidationError('password', 'type', 'Password must be a string');
    if (Buffer.byteLength(password, 'utf8') > BCRYPT_MAX_BYTES) {
      throw new ValidationError('password', 'maxBytes', `Password must be at most ${BCRYPT_MAX_BYTES} bytes`);
    }
    return bcrypt.hash(password, this.cost);
  }

  /**
   * Whether `password` matches the bcrypt `hash`, compared off the main thread. False for a
   * password over 72 bytes (it cannot have been hashed whole) and for anything not a bcrypt hash.
   * @throws never.
   */
  async verify(password: string, hash: string): Promise<boolean> {
    if (typeof password !== 'string' || typeof hash !== 'string' || !BCRYPT_HASH.test(hash)) return false;
    if (Buffer.byteLength(password, 'utf8') > BCRYPT_MAX_BYTES) return false;
    try {
      return await bcrypt.compare(password, hash);
    } catch {
      return false;
    }
  }

  /**
   * True when `hash` is not a bcrypt hash or was made with a lower cost than this hasher's.
   * @throws never.
   */
  needsRehash(hash: string): boolean {
    const match = typeof hash === 'string' ? BCRYPT_HASH.exec(hash) : null;
    return match === null || Number(match[1]) < this.cost;
  }
}
