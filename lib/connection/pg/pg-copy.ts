/**
 * COPY … FROM STDIN for bulk inserts: rows encoded in COPY's text format and streamed to one
 * pooled pg client, with backpressure. The fastest way PostgreSQL takes rows, and one statement,
 * so all or nothing.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { CopyValue } from '../../statement-engine.js';
import { dateParameterText } from './pg-internals.js';

/** Whether every value of `rows` is one COPY's text format carries as the column would read it. */
export function copyable(rows: readonly (readonly unknown[])[]): rows is readonly (readonly CopyValue[])[] {
  return rows.every((row) =>
    row.every(
      (v) =>
        v === null ||
        v === undefined ||
        typeof v === 'string' ||
        typeof v === 'bigint' ||
        typeof v === 'boolean' ||
        (typeof v === 'number' && Number.isFinite(v)) ||
        (v instanceof Date && !Number.isNaN(v.getTime())),
    ),
  );
}

const SPECIAL = /[\\\n\r\t]/g;
const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function field(value: CopyValue): string {
  if (value === null || value === undefined) return '\\N';
  if (typeof value === 'string') return value.replace(SPECIAL, (c) => ESCAPES[c]!);
  // as pg sends a Date parameter, so COPY stores what INSERT would (local time for `timestamp`)
  if (value instanceof Date) return dateParameterText(value);
  // as pg sends a boolean parameter: `true`/`false` is what a json or jsonb column reads too
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return String(value);
}

/** Encodes rows as COPY text lines, in chunks of about 64 KB. */
function* chunks(rows: readonly (readonly CopyValue[])[]): Generator<string> {
  let chunk = '';
  for (const row of rows) {
    chunk += row.map(field).join('\t') + '\n';
    if (chunk.length >= 65_536) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

/**
 * Streams `rows` into the table named by `statement` (`copy … from stdin`) on `client`; returns
 * how many rows the server took.
 * @throws pg's error (the caller maps it) when the server refuses a row or the connection fails.
 */
export async function copyRows(
  client: pg.ClientBase,
  statement: string,
  rows: readonly (readonly CopyValue[])[],
): Promise<number> {
  const stream = client.query(copyFrom(statement));
  await pipeline(Readable.from(chunks(rows)), stream);
  return stream.rowCount;
}
