/**
 * The package under test: the same operations through Repository on a Database made by
 * createDatabase, transactions through withTransaction (ambient, savepoints, propagation).
 */
import { withTransaction, type Database, type OrderBy, type Repository, type Where } from '../../../lib/index.js';
import type { KeysetWalk, PageSummary } from './reference.js';
import {
  whereCallback,
  type DynDB,
  type DynRow,
  type Id,
  type RQuery,
  type RSimple,
  type RWhere,
  type Values,
} from './resolved.js';
import type { TableSpec } from './schema.js';

type Repo = Repository<DynDB, string>;

function where(spec: RWhere): Where<DynDB, string> {
  if (spec.kind === 'callback') return whereCallback(spec.expr);
  return spec.object;
}

function query(q: RQuery): {
  where?: Where<DynDB, string>;
  orderBy?: OrderBy<DynDB, string>;
  limit?: number;
  offset?: number;
  withDeleted?: boolean;
  onlyDeleted?: boolean;
} {
  return {
    ...(q.where ? { where: where(q.where) } : {}),
    ...(q.orderBy !== undefined ? { orderBy: q.orderBy } : {}),
    ...(q.limit !== undefined ? { limit: q.limit } : {}),
    ...(q.offset !== undefined ? { offset: q.offset } : {}),
    ...q.filter,
  };
}

export class PackageSide {
  constructor(
    readonly database: Database<DynDB>,
    readonly repo: Repo,
    readonly spec: TableSpec,
  ) {}

  async transaction<T>(
    options: { readonly isolation?: 'read committed' | 'repeatable read' | 'serializable'; readonly retries?: 0 },
    fn: (attempt: number) => Promise<T>,
  ): Promise<T> {
    let attempt = 0;
    return withTransaction(this.database.db, () => fn(++attempt), {
      ...(options.isolation ? { isolationLevel: options.isolation } : {}),
      ...(options.retries !== undefined ? { retries: options.retries } : {}),
    });
  }

  async nested<T>(propagation: 'nested' | 'required', fn: () => Promise<T>): Promise<T> {
    return withTransaction(this.database.db, fn, { propagation });
  }

  /** The patch with the row's version as read now through the repository (in the same transaction). */
  async withVersion(id: Id, patch: Values): Promise<Values> {
    const version = this.spec.version?.ts;
    if (version === undefined) return patch;
    const row = await this.repo.findById(id, { withDeleted: true });
    const current = row?.[version];
    return current === undefined ? patch : { ...patch, [version]: current as Values[string] };
  }

  async run(op: RSimple): Promise<unknown> {
    const repo = this.repo;
    switch (op.op) {
      case 'create':
        return repo.create(op.values);
      case 'createMany':
        return repo.createMany(op.rows, op.returning ? {} : { returning: false });
      case 'update': {
        const patch = op.readVersion ? await this.withVersion(op.id, op.patch) : op.patch;
        return repo.update(op.id, patch);
      }
      case 'updateMany':
        return repo.updateMany(where(op.where), op.patch);
      case 'upsert':
        return repo.upsert(op.values, op.conflict);
      case 'delete':
        return repo.delete(op.id);
      case 'restore':
        return repo.restore(op.id);
      case 'findById':
        return repo.findById(op.id, { ...op.filter, ...(op.forUpdate ? { forUpdate: true } : {}) });
      case 'findOne':
        return repo.findOne(where(op.where), op.filter);
      case 'findMany':
        return repo.findMany(query(op.query));
      case 'count':
        return repo.count(op.where ? where(op.where) : undefined, op.filter);
      case 'exists':
        return repo.exists(where(op.where), op.filter);
      case 'findAndCount':
        return repo.findAndCount(query(op.query));
      case 'paginateOffset':
        return repo.paginate({ ...query(op.query), ...(op.withTotal ? { withTotal: true } : {}) });
      case 'paginateKeyset':
        return this.#walk(op.query, op.withTotal, op.maxPages);
      case 'increment':
        // the column's type is not known statically here (NumericColumnOf of a dynamic schema is never)
        return op.decrement
          ? repo.decrement(op.id, op.column as never, op.by)
          : repo.increment(op.id, op.column as never, op.by);
    }
  }

  /** The first page, then nextCursor until it is null (or maxPages went by, or a cursor came back). */
  async #walk(q: RQuery, withTotal: boolean, maxPages: number): Promise<KeysetWalk> {
    const pages: PageSummary[] = [];
    const rows: DynRow[] = [];
    const seen = new Set<string>();
    let cursor: string | null = null;
    for (;;) {
      const page = await this.repo.paginate({
        ...query(q),
        ...(cursor === null ? {} : { cursor }),
        ...(withTotal ? { withTotal: true } : {}),
      });
      pages.push({
        items: page.items.length,
        hasMore: page.hasMore,
        hasCursor: page.nextCursor !== null,
        ...(page.total === undefined ? {} : { total: page.total }),
      });
      rows.push(...page.items);
      if (page.nextCursor === null) return { pages, rows };
      if (pages.length >= maxPages || seen.has(page.nextCursor)) return { pages, rows, runaway: true };
      seen.add(page.nextCursor);
      cursor = page.nextCursor;
    }
  }
}
