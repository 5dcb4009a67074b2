/**
 * Dropping the helper columns a statement selected for the repository (a cursor's text, a
 * window's total) from the rows it returns.
 */
import type { Row } from './sql-names.js';

/**
 * Copies of `rows` without `columns`. Copied rather than deleted: a `delete` turns a row into a
 * slow dictionary object for everything that reads it afterwards (the application included).
 * Never throws.
 */
export function withoutColumns(rows: readonly Row[], columns: readonly string[]): Row[] {
  return rows.map((row) => {
    const copy: Row = {};
    for (const key in row) if (!columns.includes(key)) copy[key] = row[key];
    return copy;
  });
}
