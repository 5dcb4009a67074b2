/**
 * Deleting rows: soft (marking them, when the repository has softDelete) or for real, and
 * restoring soft-deleted ones (see Repository for what each method promises).
 */
import { sql } from 'kysely';
import { DatabaseError } from '../errors.js';
import { deletedFilter } from './deleted-filter.js';
import { whereKey, type StatementNames } from './sql-names.js';
import type { TableAccess } from './table-access.js';
import { keyArguments } from './table-key.js';
import type { TableMeta } from './table-metadata.js';
import { bumpVersion, updatedAtColumn } from './write-values.js';

/** The SET of a soft delete or a restore: the marker column, updated-at, and the version. */
function softDeleteSet(
  access: TableAccess,
  names: StatementNames,
  meta: TableMeta,
  action: 'delete' | 'restore',
): Record<string, unknown> {
  const soft = access.options.softDelete!;
  const set: Record<string, unknown> =
    soft.kind === 'boolean'
      ? { [names.col(soft.column)]: sql.lit(action === 'restore') }
      : { [names.col(soft.column)]: action === 'delete' ? sql`now()` : null };
  const updatedAt = updatedAtColumn(access, meta, [soft.column]);
  if (updatedAt) set[names.col(updatedAt)] = sql`now()`;
  return bumpVersion(access.options.version, names, set);
}

/** Repository.delete: soft-deletes (or deletes) the row with this key; true when a row changed. */
export async function deleteRow(access: TableAccess, id: unknown): Promise<boolean> {
  return access.guarded(async (loaded) => {
    const { meta, sqlNames: names } = loaded;
    const key = access.requireKey(loaded, 'delete');
    const args = keyArguments(id, key);
    const shape = access.options.softDelete
      ? access.shape('softDelete', key.length, () =>
          deletedFilter(
            access.options.softDelete,
            names,
            whereKey(
              names,
              names.kysely.updateTable(names.table).set(softDeleteSet(access, names, meta, 'delete')),
              key,
              0,
            ),
            'live',
          ),
        )
      : access.shape('delete', key.length, () => whereKey(names, names.kysely.deleteFrom(names.table), key, 0));
    const result = await access.runShape(shape, args);
    return (result.numAffectedRows ?? 0n) > 0n;
  });
}

/** Repository.restore: undoes a soft delete; true when a row changed. */
export async function restoreRow(access: TableAccess, id: unknown): Promise<boolean> {
  if (!access.options.softDelete)
    throw new DatabaseError(`restore() needs softDelete on the ${access.table} repository`);
  return access.guarded(async (loaded) => {
    const { meta, sqlNames: names } = loaded;
    const key = access.requireKey(loaded, 'restore');
    const args = keyArguments(id, key);
    const shape = access.shape('restore', key.length, () =>
      deletedFilter(
        access.options.softDelete,
        names,
        whereKey(
          names,
          names.kysely.updateTable(names.table).set(softDeleteSet(access, names, meta, 'restore')),
          key,
          0,
        ),
        'deleted',
      ),
    );
    const result = await access.runShape(shape, args);
    return (result.numAffectedRows ?? 0n) > 0n;
  });
}
