/**
 * Masking of secret columns' values in what PostgreSQL says about a failed statement: a failing
 * row's detail ("Failing row contains (…)") is masked column by column, a key's detail
 * ("Key (password_hash)=(…)") when the key has a secret column. By meaning: whatever the value's
 * format, and PostgreSQL cuts long values to 64 bytes in details, so no literal would match.
 */

const FAILING_ROW = /^Failing row contains \(([\s\S]*)\)\.?$/;
const KEY = /^Key \(([\s\S]*?)\)=\(/;
const MASK = '***';

/** The table's columns as SQL names them, in the catalog's order, and which of them are secret. */
export interface SecretColumns {
  readonly columns: readonly string[];
  readonly secret: ReadonlySet<string>;
}

/**
 * `detail` with every value of a secret column masked: a failing row column by column when its
 * values line up with the columns, else every value; a key's values when a key column is secret.
 * Never throws.
 */
export function maskDetail(detail: string, table: SecretColumns): string {
  const row = FAILING_ROW.exec(detail);
  if (row) {
    const values = row[1]!.split(', ');
    // a value holding ", " makes the split ambiguous: then nothing of the row is shown
    const masked =
      values.length === table.columns.length
        ? values.map((value, i) => (table.secret.has(table.columns[i]!) ? MASK : value))
        : [`${MASK} (values hidden: the row has a secret column)`];
    return `Failing row contains (${masked.join(', ')}).`;
  }
  const key = KEY.exec(detail);
  if (key) {
    // the key's words: column names, and function or type names of an expression index
    const words = key[1]!.split(/[^\p{L}\p{N}_$]+/u);
    if (words.some((word) => table.secret.has(word))) return `Key (${key[1]})=(${MASK}): value hidden`;
  }
  return detail;
}

/**
 * Masks secret columns' values in `error`'s detail and in its causes' (the pg error it maps),
 * in place, so `message`, `detail`, JSON and util.inspect of the error show none. Never throws.
 */
export function maskSecretColumns(error: unknown, table: SecretColumns): void {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const holder = current as { detail?: unknown; cause?: unknown };
    if (typeof holder.detail === 'string') {
      const masked = maskDetail(holder.detail, table);
      if (masked !== holder.detail) {
        try {
          Object.defineProperty(holder, 'detail', {
            value: masked,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        } catch {
          // a frozen error: nothing we can do
        }
      }
    }
    current = holder.cause;
  }
}

/** No secret values (shared, so the common case allocates nothing). */
export const NO_SECRETS: readonly string[] = [];

/** The values of `args` bound to the `secret` columns (`columns[i]` holds `args[i]`), strings and string arrays. */
export function secretValues(
  secret: ReadonlySet<string>,
  columns: readonly string[],
  args: readonly unknown[],
): readonly string[] {
  const found: string[] = [];
  columns.forEach((column, i) => {
    if (!secret.has(column)) return;
    const value = args[i];
    if (typeof value === 'string') found.push(value);
    else if (Array.isArray(value)) for (const item of value) if (typeof item === 'string') found.push(item);
  });
  return found;
}
