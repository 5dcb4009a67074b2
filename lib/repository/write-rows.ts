/**
 * The single-statement writes of Repository: create, update (with optimistic locking on a version
 * column), updateMany, upsert and increment (see Repository for what each method promises).
 */
import { sql } from 'kysely';
import { OptimisticLockError, ValidationError } from '../errors.js';
import { markSecretParameters } from '../secret-parameters.js';
import { checkColumn, checkColumnValue, isIntegerType, isNumericType, readObject } from './column-values.js';
import { deletedFilter } from './deleted-filter.js';
import { arg, bindCompiled } from './query-shape.js';
import type { SelfCalls } from './read-rows.js';
import { returnRows, whereKey, type Row, type WhereFn } from './sql-names.js';
import type { TableAccess } from './table-access.js';
import { describeKey, keyArguments } from './table-key.js';
import { applyWhere, fromCallback, planWhere, requireWhere } from './where-plan.js';
import { bumpVersion, setObject, updatedAtColumn, writableColumns } from './write-values.js';

/** Repository.create: inserts one row and returns it as stored. */
export async function create(access: TableAccess, values: unknown): Promise<Row> {
  return access.guarded(async ({ meta, sqlNames: names }) => {
    const [columns, args] = writableColumns(access.table, values, meta, 'values');
    const shape = access.shape(`create|${columns.join(',')}`, args.length, () => {
      const insert = names.kysely.insertInto(names.table);
      // no column given: every column takes its default (or its NOT NULL constraint refuses)
      if (columns.length === 0) return returnRows(names, insert.defaultValues());
      return returnRows(names, insert.values(Object.fromEntries(columns.map((c, i) => [names.col(c), arg(i)]))));
    });
    const rows = (await access.runShape(shape, args, 'write', access.secretsIn(columns, args))).rows;
    return rows[0] as Row;
  });
}

/** Repository.update: changes one row (checking its version) and returns it, or undefined. */
export async function update(
  access: TableAccess,
  repository: SelfCalls,
  id: unknown,
  patch: unknown,
): Promise<Row | undefined> {
  return access.guarded(async (loaded) => {
    const { meta, sqlNames: names } = loaded;
    const key = access.requireKey(loaded, 'update');
    const keyArgs = keyArguments(id, key);
    const version = access.options.version;
    const [columns, args] = writableColumns(access.table, patch, meta, 'patch', version);
    let expected: unknown;
    if (version !== undefined) {
      expected = readObject(patch, 'patch', 'ignore').find(([column]) => column === version)?.[1];
      if (expected === undefined || expected === null) {
        throw new ValidationError(version, 'required', `${version} (the version that was read) is required to update`);
      }
      // an integer as it was read (a number, a bigint or int8 text): nothing else reaches SQL
      checkColumnValue(meta.columns.get(version)!, expected, version);
    }
    if (columns.length === 0 && version === undefined) return repository.findById(id);
    const updatedAt = updatedAtColumn(access, meta, columns);
    const arity = args.length + key.length + (version ? 1 : 0);
    const shape = access.shape(`update|${columns.join(',')}|${updatedAt ?? ''}`, arity, () => {
      const set = setObject(names, columns, updatedAt);
      if (version) set[names.col(version)] = sql`${sql.ref(names.col(version))} + 1`;
      let query = whereKey(names, names.kysely.updateTable(names.table).set(set), key, columns.length);
      if (version) query = query.where(names.col(version), '=', arg(columns.length + key.length));
      return returnRows(names, deletedFilter(access.options.softDelete, names, query, 'live'));
    });
    const bound = version ? [...args, ...keyArgs, expected] : [...args, ...keyArgs];
    const rows = (await access.runShape(shape, bound, 'write', access.secretsIn(columns, args))).rows;
    if (rows[0] !== undefined || version === undefined) return rows[0];
    if ((await repository.findById(id)) === undefined) return undefined;
    throw new OptimisticLockError(
      `${access.table} ${describeKey(key, keyArgs)} was changed by someone else since it was read`,
      { table: access.table },
    );
  });
}

/** Repository.updateMany: changes every live row matching `where`; resolves to how many changed. */
export async function updateMany(access: TableAccess, where: unknown, patch: unknown): Promise<number> {
  requireWhere(where);
  return access.guarded(async ({ meta, sqlNames }) => {
    const [columns, args] = writableColumns(access.table, patch, meta, 'patch');
    if (columns.length === 0) return 0;
    const version = access.options.version;
    if (version !== undefined && columns.includes(version)) {
      throw new ValidationError(version, 'managed', `${version} is the version column: the repository bumps it`);
    }
    const updatedAt = updatedAtColumn(access, meta, columns);
    if (typeof where === 'function') {
      const names = access.typeScriptNames();
      const compiled = bindCompiled(
        fromCallback(() =>
          deletedFilter(
            access.options.softDelete,
            names,
            names.kysely
              .updateTable(names.table)
              .set(bumpVersion(access.options.version, names, setObject(names, columns, updatedAt)))
              .where(where as WhereFn),
            'live',
          ).compile(),
        ),
        args,
      );
      markSecretParameters(compiled.parameters, access.secretsIn(columns, args));
      const result = await access.runTyped(compiled, 'write');
      return Number(result.numAffectedRows ?? 0n);
    }
    const plan = planWhere(access.table, where, meta, access.secretColumns);
    const shape = access.shape(`updateMany|${columns.join(',')}|${plan.key}`, args.length + plan.values.length, () => {
      const names = sqlNames;
      const query = names.kysely
        .updateTable(names.table)
        .set(bumpVersion(access.options.version, names, setObject(names, columns, updatedAt)));
      return deletedFilter(access.options.softDelete, names, applyWhere(names, query, plan, args.length), 'live');
    });
    const secrets = [...access.secretsIn(columns, args), ...plan.secrets];
    const result = await access.runShape(shape, [...args, ...plan.values], 'write', secrets);
    return Number(result.numAffectedRows ?? 0n);
  });
}

/** Repository.upsert: inserts the row, or updates the one it conflicts with; returns it as stored. */
export async function upsert(access: TableAccess, values: unknown, conflictColumns: unknown): Promise<Row> {
  return access.guarded(async ({ meta, sqlNames: names }) => {
    const [columns, args] = writableColumns(access.table, values, meta, 'values');
    const conflict: readonly string[] = Array.isArray(conflictColumns) ? conflictColumns : [];
    if (conflict.length === 0) {
      throw new ValidationError('conflictColumns', 'required', 'name at least one conflict column');
    }
    for (const column of conflict) {
      if (!columns.includes(column)) {
        throw new ValidationError(column, 'required', `conflict column ${column} must be among the values`);
      }
    }
    const updatedAt = updatedAtColumn(access, meta, columns);
    const version = access.options.version;
    // the version is the repository's to bump on the update branch, never taken from the values
    const others = columns.filter((c) => !conflict.includes(c) && c !== version);
    const shape = access.shape(`upsert|${columns.join(',')}|${conflict.join(',')}`, args.length, () =>
      returnRows(
        names,
        names.kysely
          .insertInto(names.table)
          .values(Object.fromEntries(columns.map((c, i) => [names.col(c), arg(i)])))
          .onConflict((oc) =>
            oc.columns(conflict.map((c) => names.col(c))).doUpdateSet((eb) => {
              const set: Record<string, unknown> = {};
              // with nothing else to change, touch a conflict column so RETURNING still yields the row
              for (const c of others.length > 0 ? others : [conflict[0]!])
                set[names.col(c)] = eb.ref(`excluded.${names.col(c)}`);
              if (updatedAt) set[names.col(updatedAt)] = sql`now()`;
              // the row's own version, qualified: `excluded` has the column too
              return bumpVersion(access.options.version, names, set, `${names.table}.`);
            }),
          ),
      ),
    );
    const rows = (await access.runShape(shape, args, 'write', access.secretsIn(columns, args))).rows;
    return rows[0] as Row;
  });
}

/** Repository.increment: adds `by` to a numeric column, atomically in SQL; returns the row, or undefined. */
export async function increment(
  access: TableAccess,
  id: unknown,
  column: string,
  by: number,
): Promise<Row | undefined> {
  if (typeof by !== 'number' || !Number.isFinite(by)) {
    throw new ValidationError('by', 'type', 'by must be a finite number');
  }
  return access.guarded(async (loaded) => {
    const { meta, sqlNames: names } = loaded;
    const key = access.requireKey(loaded, 'increment');
    const args = keyArguments(id, key);
    const info = checkColumn(access.table, column, meta, 'column');
    if (info.generatedAlways) {
      throw new ValidationError(column, 'generated', `${column} is generated by the database and cannot be written`);
    }
    if (!isNumericType(info.type)) {
      throw new ValidationError(column, 'type', `${column} is not a numeric column (it is ${info.type})`);
    }
    if (isIntegerType(info.type) && !Number.isSafeInteger(by)) {
      throw new ValidationError('by', 'type', `by must be an integer for ${column} (${info.type})`);
    }
    if (column === access.options.version) {
      throw new ValidationError(column, 'managed', `${column} is the version column: the repository bumps it`);
    }
    const updatedAt = updatedAtColumn(access, meta, [column]);
    const shape = access.shape(`increment|${column}|${updatedAt ?? ''}`, 1 + key.length, () => {
      const set: Record<string, unknown> = { [names.col(column)]: sql`${sql.ref(names.col(column))} + ${arg(0)}` };
      if (updatedAt) set[names.col(updatedAt)] = sql`now()`;
      const query = whereKey(
        names,
        names.kysely.updateTable(names.table).set(bumpVersion(access.options.version, names, set)),
        key,
        1,
      );
      return returnRows(names, deletedFilter(access.options.softDelete, names, query, 'live'));
    });
    const rows = (await access.runShape(shape, [by, ...args])).rows;
    return rows[0];
  });
}
