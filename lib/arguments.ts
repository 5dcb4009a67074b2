/**
 * Arguments of public functions, checked at the door: options objects read once into plain
 * snapshots (a Proxy or a throwing getter is a ValidationError, never a raw error escaping from
 * deep inside), a Kysely where a Kysely belongs, a function where a callback belongs.
 */
import { ValidationError } from './errors.js';

/**
 * An options argument as a plain snapshot of its own enumerable string keys (each read once):
 * undefined and null give `{}`. `kind` 'plain' takes plain objects only; 'record' any non-array
 * object (process.env is one).
 * @throws ValidationError naming `field` for anything else (a string, an array, a class instance
 * when 'plain'), or an object that throws while it is read.
 */
export function readOptions<T extends object>(
  value: T | null | undefined,
  field: string,
  kind: 'plain' | 'record' = 'plain',
): Partial<T> {
  if (value === undefined || value === null) return {};
  try {
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new ValidationError(field, 'type', `${field} must be an options object`);
    }
    const proto = Object.getPrototypeOf(value) as unknown;
    if (kind === 'plain' && proto !== Object.prototype && proto !== null) {
      throw new ValidationError(field, 'type', `${field} must be a plain options object`);
    }
    const snapshot: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      // defineProperty: a `__proto__` key stays a plain key, never the prototype
      Object.defineProperty(snapshot, key, {
        value: (value as Record<string, unknown>)[key],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return snapshot as Partial<T>;
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    throw new ValidationError(field, 'type', `${field} could not be read`, { cause: error });
  }
}

/**
 * Checks that `value` is a Kysely instance (or a Transaction): something with Kysely's executor.
 * @throws ValidationError naming `field` otherwise.
 */
export function requireKysely(value: unknown, field = 'db'): void {
  let ok: boolean;
  try {
    const candidate = value as { getExecutor?: unknown; selectFrom?: unknown } | null;
    ok =
      typeof candidate === 'object' &&
      candidate !== null &&
      typeof candidate.getExecutor === 'function' &&
      typeof candidate.selectFrom === 'function';
  } catch {
    ok = false;
  }
  if (!ok) throw new ValidationError(field, 'type', `${field} must be a Kysely instance (or a Transaction of one)`);
}

/**
 * Checks that `value` is a function.
 * @throws ValidationError naming `field` otherwise.
 */
export function requireFunction(value: unknown, field: string): void {
  if (typeof value !== 'function') throw new ValidationError(field, 'type', `${field} must be a function`);
}
