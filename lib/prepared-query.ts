/**
 * The mark by which a statement asks to run as a named prepared statement: set by the repository
 * on its compiled query shapes, honoured by the pg driver (where the Database allows named
 * statements) and ignored by every other driver. Engine-neutral, so the repository marks its
 * shapes without knowing which engine runs them.
 */
import type { CompiledQuery } from 'kysely';

const PREPARE = Symbol('kysely-repository.prepare');

/** A compiled query that may ask to run as a named prepared statement. */
type MarkedQuery = CompiledQuery & { readonly [PREPARE]?: true };

/**
 * Marks a compiled query to run as a named prepared statement (when the Database allows them):
 * parsed once per connection, then only bound, among the connection's DB_PREPARED_STATEMENTS_MAX
 * most recently used statements. Use it for a bounded set of query shapes, not for ad-hoc SQL.
 */
export function preparedQuery<R>(query: CompiledQuery<R>): CompiledQuery<R> {
  return Object.freeze({ ...query, [PREPARE]: true as const });
}

/** Whether `query` was marked by {@link preparedQuery}. */
export function isPreparedQuery(query: CompiledQuery): boolean {
  return (query as MarkedQuery)[PREPARE] === true;
}
