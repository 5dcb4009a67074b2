/**
 * How many rows a read returns and from where: the limit (1..1000, default 100) and offset every
 * listing method takes, bound as parameters so one shape serves every page size.
 */
import { sql, type Expression } from 'kysely';
import { ValidationError } from '../errors.js';
import { arg } from './query-shape.js';

const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

/** Validates a limit: an integer in 1..1000. */
export function checkLimit(limit: unknown): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new ValidationError('limit', 'range', `limit must be an integer from 1 to ${MAX_LIMIT}`);
  }
  return limit;
}

/** Validates an offset: a non-negative safe integer. */
export function checkOffset(offset: unknown): number {
  if (offset === undefined) return 0;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw new ValidationError('offset', 'range', 'offset must be a non-negative integer');
  }
  return offset;
}

/** A placeholder for a numeric argument (limit, offset), as a bound parameter. */
export function numberArg(index: number): Expression<number> {
  return sql<number>`${arg(index)}`;
}
