/**
 * Opaque keyset cursors: the sort values of the last row of a page, base64url-encoded with the
 * table and sort order they belong to and a tag: an HMAC-SHA-256 when the application gives a
 * secret (a cursor cannot then be forged or altered without it), else an unkeyed checksum (it
 * catches damage and a cursor of another table or order, not forgery: anyone can compute it).
 * Decoding validates everything; a tampered, truncated, foreign or forged cursor is a
 * ValidationError, and its values only ever become parameters.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ValidationError } from '../errors.js';

/** A sort value as a cursor carries it. */
export type CursorValue = string | number | boolean | Date | null;

type Encoded = ['s', string] | ['n', number] | ['b', boolean] | ['d', string] | ['z', null];

/** Long enough for any sort value up to 512 KiB of text (JSON, then base64); longer ones are refused when a page is made. */
const MAX_CURSOR_LENGTH = 1024 * 1024;

/** Characters of the unkeyed checksum (72 bits) and of the HMAC (132 bits). */
const CHECKSUM_LENGTH = 12;
const MAC_LENGTH = 22;

/** The cursor's tag: an HMAC with `secret`, else the unkeyed checksum. */
function tag(scope: string, payload: string, secret: string | undefined): string {
  const hash = secret === undefined ? createHash('sha256') : createHmac('sha256', secret);
  return hash
    .update(scope)
    .update('\0')
    .update(payload)
    .digest('base64url')
    .slice(0, secret === undefined ? CHECKSUM_LENGTH : MAC_LENGTH);
}

function encodeValue(value: unknown): Encoded {
  if (value === null || value === undefined) return ['z', null];
  if (value instanceof Date) return ['d', value.toISOString()];
  // JSON has no NaN or Infinity: they travel as the text PostgreSQL reads them from
  if (typeof value === 'number') return Number.isFinite(value) ? ['n', value] : ['s', String(value)];
  if (typeof value === 'boolean') return ['b', value];
  if (typeof value === 'bigint') return ['s', value.toString()];
  if (typeof value === 'string') return ['s', value];
  throw new ValidationError('orderBy', 'type', `cannot page by a column holding ${typeof value} values`);
}

function decodeValue(item: unknown): CursorValue {
  if (!Array.isArray(item) || item.length !== 2) throw invalid();
  const [tag, value] = item as [unknown, unknown];
  switch (tag) {
    case 's':
      if (typeof value === 'string') return value;
      break;
    case 'n':
      if (typeof value === 'number' && Number.isFinite(value)) return value;
      break;
    case 'b':
      if (typeof value === 'boolean') return value;
      break;
    case 'd':
      if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return new Date(value);
      break;
    case 'z':
      if (value === null) return null;
      break;
  }
  throw invalid();
}

function invalid(reason = 'is not a cursor this repository issued'): ValidationError {
  return new ValidationError('cursor', 'format', `Invalid cursor: it ${reason}`);
}

/**
 * Encodes the sort values of a row as a cursor for `scope` (table + sort order), signed with
 * `secret` when given.
 * @throws ValidationError (field `orderBy`) for a value a cursor cannot carry: an object, or
 * values whose cursor would pass the length a cursor may have.
 */
export function encodeCursor(scope: string, values: readonly unknown[], secret?: string): string {
  const payload = JSON.stringify(values.map(encodeValue));
  const cursor = `${Buffer.from(payload).toString('base64url')}.${tag(scope, payload, secret)}`;
  if (cursor.length > MAX_CURSOR_LENGTH) {
    throw new ValidationError(
      'orderBy',
      'length',
      `the sort values of this page's last row are too long to carry in a cursor (over ${MAX_CURSOR_LENGTH} characters); page by shorter columns, or by offset`,
    );
  }
  return cursor;
}

/**
 * Decodes a cursor made by encodeCursor for the same `scope` (and `secret`), expecting `arity` values.
 * @throws ValidationError (field `cursor`) for anything else: with a secret, an unsigned cursor or
 * one signed with another key too.
 */
export function decodeCursor(scope: string, cursor: unknown, arity: number, secret?: string): CursorValue[] {
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH) throw invalid();
  const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(cursor);
  if (!match || match[2]!.length !== (secret === undefined ? CHECKSUM_LENGTH : MAC_LENGTH)) throw invalid();
  const payload = Buffer.from(match[1]!, 'base64url').toString('utf8');
  const expected = Buffer.from(tag(scope, payload, secret));
  const given = Buffer.from(match[2]!);
  if (!timingSafeEqual(expected, given)) throw invalid('belongs to another table or sort order, or was altered');
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== arity) throw invalid();
  return parsed.map(decodeValue);
}
