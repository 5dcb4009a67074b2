/**
 * Which rows a soft-deleting repository's statements see: live ones (the default), deleted ones,
 * or all, from a filter's `withDeleted` / `onlyDeleted` flags.
 */
import { sql } from 'kysely';
import { booleanOption } from '../arguments.js';
import type { DeletedFilter, SoftDeleteOptions } from './repository-types.js';
import type { Filterable, StatementNames } from './sql-names.js';

/** Which rows a statement sees. */
export type DeletedMode = 'live' | 'all' | 'deleted';

/**
 * Which rows a filter asks for; its flags must be booleans (the text 'false' is refused).
 * @throws ValidationError naming `onlyDeleted` or `withDeleted` when it is not a boolean.
 */
export function deletedMode(filter: DeletedFilter | undefined): DeletedMode {
  const only = booleanOption(filter?.onlyDeleted, 'onlyDeleted');
  const all = booleanOption(filter?.withDeleted, 'withDeleted');
  if (only) return 'deleted';
  return all ? 'all' : 'live';
}

/** `q` restricted to the rows `mode` sees, when the repository soft-deletes (`soft`). */
export function deletedFilter<Q extends Filterable>(
  soft: SoftDeleteOptions<string> | undefined,
  names: StatementNames,
  q: Q,
  mode: DeletedMode,
): Q {
  if (!soft || mode === 'all') return q;
  const column = names.col(soft.column);
  const filtered: Filterable =
    soft.kind === 'boolean'
      ? q.where(column, '=', sql.lit(mode === 'live'))
      : q.where(column, mode === 'live' ? 'is' : 'is not', null);
  return filtered as Q;
}
