/**
 * The schemas that belong to PostgreSQL itself. Repositories and maintenance serve the
 * application's tables, never these (pg_authid holds role passwords).
 */
import { ValidationError } from './errors.js';

/** Whether `schema` is one of PostgreSQL's own: pg_catalog, information_schema, pg_toast and its temporary kin. */
function isSystemSchema(schema: string): boolean {
  return schema === 'pg_catalog' || schema === 'information_schema' || schema.startsWith('pg_toast');
}

/**
 * Checks that `table`, found in `schema`, may be served: not a system schema, and among `allowed`
 * when that is given.
 * @throws ValidationError (field `table`, rule `schema`) naming the schema.
 */
export function checkServedSchema(table: string, schema: string, allowed: readonly string[] | undefined): void {
  if (isSystemSchema(schema) || (allowed !== undefined && !allowed.includes(schema))) {
    const why = allowed ? `allowed: ${allowed.join(', ')}` : 'system schemas never are';
    throw new ValidationError('table', 'schema', `${table} is in schema ${schema}, which is not served (${why})`);
  }
}
