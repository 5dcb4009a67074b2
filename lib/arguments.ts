/**
 * Arguments of public functions, checked at the door: options objects read once into plain
 * snapshots (a Proxy or a throwing getter is a ValidationError, never a raw error escaping from
 * deep inside), a Kysely where a Kysely belongs, a function where a callback belongs.
 */
import { ValidationError } from './errors.js';

/** Whether `value` is a plain object: an object literal, or one made with a null prototype. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * The own enumerable string keys of an object and their values, each read once (a getter or a
 * Proxy is asked once, so what is checked is what is used). `kind` 'plain' takes plain objects
 * only; 'record' any non-array object (process.env is one).
 * @throws ValidationError naming `field` for anything else (a string, an array, a class instance
 * when 'plain'), or an object that throws while it is read.
 */
export function readEntries(value: unknown, field: string, kind: 'plain' | 'record' = 'plain'): [string, unknown][] {
  try {
    const fits =
      kind === 'plain' ? isPlainObject(value) : typeof value === 'object' && value !== null && !Array.isArray(value);
    if (!fits) throw new ValidationError(field, 'type', `${field} must be a plain object`);
    const record = value as Record<string, unknown>;
    return Object.keys(record).map((key): [string, unknown] => [key, record[key]]);
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    throw new ValidationError(field, 'type', `${field} could not be read`, { cause: error });
  }
}

/**
 * An options argument as a snapshot of its own enumerable string keys (each read once), with no
 * prototype (a `__proto__` key stays a plain key): undefined and null give `{}`.
 * @throws ValidationError as readEntries.
 */
export function readOptions<T extends object>(
  value: T | null | undefined,
  field: string,
  kind: 'plain' | 'record' = 'plain',
): Partial<T> {
  const snapshot = Object.create(null) as Record<string, unknown>;
  if (value === undefined || value === null) return snapshot as Partial<T>;
  for (const [key, item] of readEntries(value, field, kind)) snapshot[key] = item;
  return snapshot as Partial<T>;
}

/**
 * A boolean option: `fallback` when undefined.
 * @throws ValidationError (rule `type`) naming `field` for anything but a boolean (the text
 * 'false', say).
 */
export function booleanOption(value: unknown, field: string, fallback = false): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new ValidationError(field, 'type', `${field} must be true or false`);
  return value;
}

/** Whether `value` is an object with every method in `methods`; false also when reading it throws. */
export function hasMethods(value: unknown, methods: readonly string[]): boolean {
  try {
    if (typeof value !== 'object' || value === null) return false;
    const candidate = value as Record<string, unknown>;
    return methods.every((method) => typeof candidate[method] === 'function');
  } catch {
    return false;
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
