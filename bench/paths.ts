/**
 * Every public path, not only the fast ones: each Repository and UserRepository method in each
 * form its options allow (equality and expression filters, orderBy lists, offset and keyset pages
 * with and without total, findAndCount, counts, exists, upsert, updateMany with both filters,
 * increment, decrement, createMany with and without returning, soft and hard delete, soft-delete
 * filters), each against the same statements written
 * for raw pg (parameterized, and named prepared) and against plain Kysely, in one run on the same
 * pool and data. Prints ops/s, client CPU per operation and the ratios to raw pg and to Kysely,
 * medians of the rounds; contenders take turns in a rotating order.
 *
 *   npx tsx bench/paths.ts         (BENCH_PATHS_SECONDS=1 BENCH_ROUNDS=3 by default)
 *
 * BENCH_WORKLOADS=findMany,createUser runs only the workloads whose names start with one of those
 * words. The UserRepository runs with a hasher that does no work (a fixed hash; bcrypt's own cost
 * is in bench/users.ts), so the table measures the data access and its validation.
 */
import { sql, type ExpressionBuilder, type Generated, type GeneratedAlways, type Kysely } from 'kysely';
import pg from 'pg';
import {
  createDatabase,
  loadConfig,
  migrateToLatest,
  Repository,
  silentLogger,
  UserRepository,
  type DB,
  type PasswordHasher,
} from '../lib/index.js';
import {
  createBenchDatabase,
  measure,
  median,
  printTable,
  seedUsers,
  turnOrder,
  type Sample,
  CONTENDERS,
  picked,
  type Contender,
  POOL,
  ROUNDS,
  WORKERS,
} from './bench-support.js';

const SECONDS = Number(process.env['BENCH_PATHS_SECONDS'] ?? 1);
const USERS = 100_000;
const ITEMS = 100_000;
const OWNERS = 1_000;
const BATCH = 100;

/** A second table unlike users: an owner column, a counter, and a timestamp soft-delete column. */
interface Items {
  id: GeneratedAlways<string>;
  ownerId: number;
  name: string;
  hits: Generated<number>;
  deletedAt: Date | null;
}
type BenchDB = DB & { items: Items };

type Op = (i: number) => Promise<unknown>;

/** One path: the statements raw pg sends for it, the same through Kysely, and the package's call. */
interface Workload {
  readonly name: string;
  /** Raw pg, run parameterized or as named prepared statements. */
  readonly raw: (query: (text: string, values: unknown[]) => Promise<pg.QueryResult>, i: number) => Promise<unknown>;
  readonly kysely: Op;
  readonly repository: Op;
}

const HASH = '$2b$04$' + 'b'.repeat(53);

/** A hasher that does no work: this bench measures data access, bench/users.ts measures bcrypt. */
const freeHasher: PasswordHasher = {
  hash: () => Promise.resolve(HASH),
  verify: () => Promise.resolve(true),
  needsRehash: () => false,
};

/** Runs the benchmark and prints its table. */
export async function benchPaths(): Promise<void> {
  const bench = await createBenchDatabase('kr_paths');
  const database = createDatabase<BenchDB>({
    config: loadConfig({ DATABASE_URL: bench.url, DB_POOL_SIZE: String(POOL) }, { envFile: '/dev/null' }),
    logger: silentLogger,
  });
  const db = database.db;
  const pool = new pg.Pool({ connectionString: bench.url, max: POOL });
  try {
    await migrateToLatest(db as unknown as Kysely<DB>);
    await seedUsers(db as Kysely<unknown>, USERS);
    await sql`create table items (
      id bigint generated always as identity primary key,
      owner_id int not null,
      name text not null unique,
      hits int not null default 0,
      deleted_at timestamptz)`.execute(db);
    await sql`insert into items (owner_id, name, hits, deleted_at)
      select g % ${OWNERS}, 'item' || g, g % 97, case when g % 10 = 0 then now() end
        from generate_series(1, ${ITEMS}) g`.execute(db);
    await sql`create index items_owner on items (owner_id, hits desc, id)`.execute(db);
    await sql`vacuum analyze items`.execute(db);

    const users = new Repository(db, 'users');
    const items = new Repository(db, 'items', { softDelete: { column: 'deletedAt', kind: 'timestamp' } });
    // the same table without soft delete: its delete removes the row
    const hardItems = new Repository(db, 'items');
    const store = new UserRepository(db, { hasher: freeHasher });
    let serial = 0;
    const unique = () => `${process.pid}_${++serial}_${Math.random().toString(36).slice(2, 8)}`;
    const userId = (i: number) => 1 + (i % USERS);
    const itemId = (i: number) => 1 + ((i * 7) % ITEMS);
    const owner = (i: number) => i % OWNERS;
    // an id past which 50 active users always follow
    const after = (i: number) => (i * 37) % (USERS - 1000);
    const activeAfter = (eb: ExpressionBuilder<BenchDB, 'users'>, i: number) =>
      eb.and([eb('isActive', '=', true), eb('id', '>', String(after(i)))]);
    const newItems = (tag: string) =>
      Array.from({ length: BATCH }, (_, k) => ({ ownerId: k % OWNERS, name: `${tag}${unique()}_${k}` }));
    const unnestInsert = (returning: boolean) =>
      `insert into items (owner_id, name) select * from unnest($1::int[], $2::text[])${returning ? ' returning *' : ''}`;
    const columnsOf = (rows: { ownerId: number; name: string }[]) => [
      rows.map((r) => r.ownerId),
      rows.map((r) => r.name),
    ];
    // keyset cursors of the users' pages (newest first, active), the same for every contender
    const cursors: { cursor: string; createdAt: Date; id: string }[] = [];
    {
      let cursor: string | null = null;
      do {
        const page = await store.listUsersPage({ limit: 1000, cursor });
        const last = page.items[page.items.length - 1]!;
        if (page.nextCursor) cursors.push({ cursor: page.nextCursor, createdAt: last.createdAt, id: last.id });
        cursor = page.nextCursor;
      } while (cursor !== null && cursors.length < 80);
    }
    const start = (i: number) => cursors[i % cursors.length]!;
    const itemStart = (i: number) => String(((i * 13) % (ITEMS - 5000)) + 1);

    const workloads: Workload[] = [
      {
        name: 'getById',
        raw: (q, i) => q('select * from users where id = $1', [userId(i)]),
        kysely: (i) =>
          db
            .selectFrom('users')
            .selectAll()
            .where('id', '=', String(userId(i)))
            .executeTakeFirstOrThrow(),
        repository: (i) => users.getById(userId(i)),
      },
      {
        name: 'findOne (equality)',
        raw: (q, i) => q('select * from users where username = $1 limit 1', [`user${userId(i)}`]),
        kysely: (i) =>
          db
            .selectFrom('users')
            .selectAll()
            .where('username', '=', `user${userId(i)}`)
            .limit(1)
            .executeTakeFirst(),
        repository: (i) => users.findOne({ username: `user${userId(i)}` }),
      },
      {
        name: 'findOne (expression)',
        raw: (q, i) =>
          q('select * from users where username = $1 or id = $2 limit 1', [`user${userId(i)}`, userId(i + 1)]),
        kysely: (i) =>
          db
            .selectFrom('users')
            .selectAll()
            .where((eb) => eb.or([eb('username', '=', `user${userId(i)}`), eb('id', '=', String(userId(i + 1)))]))
            .limit(1)
            .executeTakeFirst(),
        repository: (i) =>
          users.findOne((eb) => eb.or([eb('username', '=', `user${userId(i)}`), eb('id', '=', String(userId(i + 1)))])),
      },
      {
        name: 'exists',
        raw: (q, i) => q('select 1 from users where username = $1 limit 1', [`user${userId(i)}`]),
        kysely: (i) =>
          db
            .selectFrom('users')
            .select(sql`1`.as('one'))
            .where('username', '=', `user${userId(i)}`)
            .limit(1)
            .executeTakeFirst(),
        repository: (i) => users.exists({ username: `user${userId(i)}` }),
      },
      {
        name: 'count (equality, soft-delete filter)',
        raw: (q, i) => q('select count(*) from items where owner_id = $1 and deleted_at is null', [owner(i)]),
        kysely: (i) =>
          db
            .selectFrom('items')
            .select((eb) => eb.fn.countAll().as('count'))
            .where('ownerId', '=', owner(i))
            .where('deletedAt', 'is', null)
            .executeTakeFirst(),
        repository: (i) => items.count({ ownerId: owner(i) }),
      },
      {
        name: 'count (expression)',
        raw: (q, i) =>
          q('select count(*) from items where (owner_id = $1 and hits > $2) and deleted_at is null', [owner(i), 50]),
        kysely: (i) =>
          db
            .selectFrom('items')
            .select((eb) => eb.fn.countAll().as('count'))
            .where((eb) => eb.and([eb('ownerId', '=', owner(i)), eb('hits', '>', 50)]))
            .where('deletedAt', 'is', null)
            .executeTakeFirst(),
        repository: (i) => items.count((eb) => eb.and([eb('ownerId', '=', owner(i)), eb('hits', '>', 50)])),
      },
      {
        name: 'findMany (equality, orderBy list, 50)',
        raw: (q, i) =>
          q('select * from items where owner_id = $1 and deleted_at is null order by hits desc, id asc limit $2', [
            owner(i),
            50,
          ]),
        kysely: (i) =>
          db
            .selectFrom('items')
            .selectAll()
            .where('ownerId', '=', owner(i))
            .where('deletedAt', 'is', null)
            .orderBy('hits', 'desc')
            .orderBy('id', 'asc')
            .limit(50)
            .execute(),
        repository: (i) =>
          items.findMany({
            where: { ownerId: owner(i) },
            orderBy: [
              ['hits', 'desc'],
              ['id', 'asc'],
            ],
            limit: 50,
          }),
      },
      {
        name: 'findMany (withDeleted)',
        raw: (q, i) => q('select * from items where owner_id = $1 order by id asc limit $2', [owner(i), 50]),
        kysely: (i) =>
          db.selectFrom('items').selectAll().where('ownerId', '=', owner(i)).orderBy('id', 'asc').limit(50).execute(),
        repository: (i) => items.findMany({ where: { ownerId: owner(i) }, limit: 50, withDeleted: true }),
      },
      {
        name: 'findMany (onlyDeleted)',
        raw: (q, i) =>
          q('select * from items where owner_id = $1 and deleted_at is not null order by id asc limit $2', [
            owner(i),
            50,
          ]),
        kysely: (i) =>
          db
            .selectFrom('items')
            .selectAll()
            .where('ownerId', '=', owner(i))
            .where('deletedAt', 'is not', null)
            .orderBy('id', 'asc')
            .limit(50)
            .execute(),
        repository: (i) => items.findMany({ where: { ownerId: owner(i) }, limit: 50, onlyDeleted: true }),
      },
      {
        name: 'findMany (expression, 50)',
        raw: (q, i) =>
          q('select * from users where (is_active = $1 and id > $2) order by id asc limit $3', [true, after(i), 50]),
        kysely: (i) =>
          db
            .selectFrom('users')
            .selectAll()
            .where((eb) => activeAfter(eb, i))
            .orderBy('id', 'asc')
            .limit(50)
            .execute(),
        repository: (i) => users.findMany({ where: (eb) => activeAfter(eb, i), limit: 50 }),
      },
      {
        name: 'findAndCount (50)',
        raw: (q, i) =>
          q(
            'select *, count(*) over () as total from items where owner_id = $1 and deleted_at is null order by id asc limit $2 offset $3',
            [owner(i), 50, 0],
          ),
        kysely: (i) =>
          db
            .selectFrom('items')
            .selectAll()
            .select((eb) => eb.fn.countAll().over().as('total'))
            .where('ownerId', '=', owner(i))
            .where('deletedAt', 'is', null)
            .orderBy('id', 'asc')
            .limit(50)
            .offset(0)
            .execute(),
        repository: (i) => items.findAndCount({ where: { ownerId: owner(i) }, limit: 50 }),
      },
      {
        name: 'paginate keyset (expression, 50)',
        raw: (q, i) =>
          q('select * from users where (is_active = $1 and id > $2) order by id asc limit $3', [true, after(i), 51]),
        kysely: (i) =>
          db
            .selectFrom('users')
            .selectAll()
            .where((eb) => activeAfter(eb, i))
            .orderBy('id', 'asc')
            .limit(51)
            .execute(),
        repository: (i) => users.paginate({ where: (eb) => activeAfter(eb, i), limit: 50 }),
      },
      {
        name: 'paginate keyset (withTotal, 50)',
        raw: (q, i) =>
          Promise.all([
            q('select * from items where id > $1 and deleted_at is null order by id asc limit $2', [itemStart(i), 51]),
            q('select count(*) from items where id > $1 and deleted_at is null', [itemStart(i)]),
          ]),
        kysely: (i) =>
          Promise.all([
            db
              .selectFrom('items')
              .selectAll()
              .where('id', '>', itemStart(i))
              .where('deletedAt', 'is', null)
              .orderBy('id', 'asc')
              .limit(51)
              .execute(),
            db
              .selectFrom('items')
              .select((eb) => eb.fn.countAll().as('count'))
              .where('id', '>', itemStart(i))
              .where('deletedAt', 'is', null)
              .executeTakeFirst(),
          ]),
        repository: (i) => items.paginate({ where: (eb) => eb('id', '>', itemStart(i)), limit: 50, withTotal: true }),
      },
      {
        name: 'paginate offset (withTotal, 50)',
        raw: (q, i) =>
          Promise.all([
            q('select * from items where owner_id = $1 and deleted_at is null order by id asc limit $2 offset $3', [
              owner(i),
              51,
              20,
            ]),
            q('select count(*) from items where owner_id = $1 and deleted_at is null', [owner(i)]),
          ]),
        kysely: (i) =>
          Promise.all([
            db
              .selectFrom('items')
              .selectAll()
              .where('ownerId', '=', owner(i))
              .where('deletedAt', 'is', null)
              .orderBy('id', 'asc')
              .limit(51)
              .offset(20)
              .execute(),
            db
              .selectFrom('items')
              .select((eb) => eb.fn.countAll().as('count'))
              .where('ownerId', '=', owner(i))
              .where('deletedAt', 'is', null)
              .executeTakeFirst(),
          ]),
        repository: (i) => items.paginate({ where: { ownerId: owner(i) }, limit: 50, offset: 20, withTotal: true }),
      },
      {
        name: 'upsert',
        raw: (q, i) =>
          q(
            'insert into users (username, email, password_hash) values ($1, $2, $3) on conflict (username) do update set email = excluded.email, password_hash = excluded.password_hash, updated_at = now() returning *',
            [`user${userId(i)}`, `up${unique()}@example.com`, HASH],
          ),
        kysely: (i) =>
          db
            .insertInto('users')
            .values({ username: `user${userId(i)}`, email: `up${unique()}@example.com`, passwordHash: HASH })
            .onConflict((oc) =>
              oc.column('username').doUpdateSet((eb) => ({
                email: eb.ref('excluded.email'),
                passwordHash: eb.ref('excluded.passwordHash'),
                updatedAt: sql`now()`,
              })),
            )
            .returningAll()
            .executeTakeFirst(),
        repository: (i) =>
          users.upsert({ username: `user${userId(i)}`, email: `up${unique()}@example.com`, passwordHash: HASH }, [
            'username',
          ]),
      },
      {
        name: 'updateMany',
        raw: (q, i) =>
          q('update users set email = $1, updated_at = now() where username = $2', [
            `um${unique()}@example.com`,
            `user${userId(i)}`,
          ]),
        kysely: (i) =>
          db
            .updateTable('users')
            .set({ email: `um${unique()}@example.com`, updatedAt: sql`now()` })
            .where('username', '=', `user${userId(i)}`)
            .executeTakeFirst(),
        repository: (i) => users.updateMany({ username: `user${userId(i)}` }, { email: `um${unique()}@example.com` }),
      },
      {
        name: 'updateMany (expression)',
        raw: (q, i) =>
          q('update users set email = $1, updated_at = now() where (username = $2 and is_active = $3)', [
            `ue${unique()}@example.com`,
            `user${userId(i)}`,
            true,
          ]),
        kysely: (i) =>
          db
            .updateTable('users')
            .set({ email: `ue${unique()}@example.com`, updatedAt: sql`now()` })
            .where((eb) => eb.and([eb('username', '=', `user${userId(i)}`), eb('isActive', '=', true)]))
            .executeTakeFirst(),
        repository: (i) =>
          users.updateMany((eb) => eb.and([eb('username', '=', `user${userId(i)}`), eb('isActive', '=', true)]), {
            email: `ue${unique()}@example.com`,
          }),
      },
      {
        name: 'increment',
        raw: (q, i) =>
          q('update items set hits = hits + $1 where id = $2 and deleted_at is null returning *', [1, itemId(i)]),
        kysely: (i) =>
          db
            .updateTable('items')
            .set((eb) => ({ hits: eb('hits', '+', 1) }))
            .where('id', '=', String(itemId(i)))
            .where('deletedAt', 'is', null)
            .returningAll()
            .executeTakeFirst(),
        repository: (i) => items.increment(itemId(i), 'hits', 1),
      },
      {
        name: 'decrement',
        raw: (q, i) =>
          q('update items set hits = hits - $1 where id = $2 and deleted_at is null returning *', [1, itemId(i)]),
        kysely: (i) =>
          db
            .updateTable('items')
            .set((eb) => ({ hits: eb('hits', '-', 1) }))
            .where('id', '=', String(itemId(i)))
            .where('deletedAt', 'is', null)
            .returningAll()
            .executeTakeFirst(),
        repository: (i) => items.decrement(itemId(i), 'hits', 1),
      },
      {
        name: 'create + hard delete',
        raw: async (q, i) => {
          const { rows } = await q('insert into items (owner_id, name) values ($1, $2) returning *', [
            owner(i),
            `hd${unique()}`,
          ]);
          await q('delete from items where id = $1', [(rows[0] as { id: string }).id]);
        },
        kysely: async (i) => {
          const row = await db
            .insertInto('items')
            .values({ ownerId: owner(i), name: `hd${unique()}` })
            .returningAll()
            .executeTakeFirstOrThrow();
          await db.deleteFrom('items').where('id', '=', row.id).execute();
        },
        repository: async (i) => {
          const row = await hardItems.create({ ownerId: owner(i), name: `hd${unique()}` });
          await hardItems.delete(row.id);
        },
      },
      {
        name: `createMany (${BATCH}, returning)`,
        raw: (q) => q(unnestInsert(true), columnsOf(newItems('r'))),
        kysely: () => db.insertInto('items').values(newItems('k')).returningAll().execute(),
        repository: () => items.createMany(newItems('o')),
      },
      {
        name: `createMany (${BATCH}, no returning)`,
        raw: (q) => q(unnestInsert(false), columnsOf(newItems('r'))),
        kysely: () => db.insertInto('items').values(newItems('k')).execute(),
        repository: () => items.createMany(newItems('o'), { returning: false }),
      },
      {
        name: 'soft delete + restore',
        raw: async (q, i) => {
          await q('update items set deleted_at = now() where id = $1 and deleted_at is null', [itemId(i)]);
          await q('update items set deleted_at = null where id = $1 and deleted_at is not null', [itemId(i)]);
        },
        kysely: async (i) => {
          const id = String(itemId(i));
          await db
            .updateTable('items')
            .set({ deletedAt: sql`now()` })
            .where('id', '=', id)
            .where('deletedAt', 'is', null)
            .execute();
          await db
            .updateTable('items')
            .set({ deletedAt: null })
            .where('id', '=', id)
            .where('deletedAt', 'is not', null)
            .execute();
        },
        repository: async (i) => {
          await items.delete(itemId(i));
          await items.restore(itemId(i));
        },
      },
      {
        name: 'UserRepository.createUser',
        raw: (q) => {
          const u = unique();
          return q('insert into users (username, email, password_hash) values ($1, $2, $3) returning *', [
            `r${u}`,
            `r${u}@example.com`,
            HASH,
          ]);
        },
        kysely: () => {
          const u = unique();
          return db
            .insertInto('users')
            .values({ username: `k${u}`, email: `k${u}@example.com`, passwordHash: HASH })
            .returningAll()
            .executeTakeFirst();
        },
        repository: () => {
          const u = unique();
          return store.createUser({ username: `o${u}`, email: `o${u}@example.com`, password: 'secure_password_123' });
        },
      },
      {
        name: 'UserRepository.getUserById',
        raw: (q, i) => q('select * from users where id = $1', [userId(i)]),
        kysely: (i) =>
          db
            .selectFrom('users')
            .selectAll()
            .where('id', '=', String(userId(i)))
            .executeTakeFirst(),
        repository: (i) => store.getUserById(String(userId(i))),
      },
      {
        name: 'UserRepository.getUserByUsername',
        raw: (q, i) => q('select * from users where lower(username) = lower($1) limit 1', [`User${userId(i)}`]),
        kysely: (i) =>
          db
            .selectFrom('users')
            .selectAll()
            .where(sql`lower(username)`, '=', sql`lower(${`User${userId(i)}`})`)
            .limit(1)
            .executeTakeFirst(),
        repository: (i) => store.getUserByUsername(`User${userId(i)}`),
      },
      {
        name: 'UserRepository.getUserByEmail',
        raw: (q, i) => q('select * from users where lower(email) = $1 limit 1', [`user${userId(i)}@example.com`]),
        kysely: (i) =>
          db
            .selectFrom('users')
            .selectAll()
            .where(sql`lower(email)`, '=', `user${userId(i)}@example.com`)
            .limit(1)
            .executeTakeFirst(),
        repository: (i) => store.getUserByEmail(`User${userId(i)}@Example.com`),
      },
      {
        name: 'UserRepository.updateUser',
        raw: (q, i) =>
          q('update users set email = $1, updated_at = now() where id = $2 returning *', [
            `uu${unique()}@example.com`,
            userId(i),
          ]),
        kysely: (i) =>
          db
            .updateTable('users')
            .set({ email: `uu${unique()}@example.com`, updatedAt: sql`now()` })
            .where('id', '=', String(userId(i)))
            .returningAll()
            .executeTakeFirst(),
        repository: (i) => store.updateUser(String(userId(i)), { email: `uu${unique()}@example.com` }),
      },
      {
        name: 'UserRepository.deleteUser + restoreUser',
        raw: async (q, i) => {
          await q('update users set is_active = false, updated_at = now() where id = $1 and is_active = true', [
            userId(i),
          ]);
          await q('update users set is_active = true, updated_at = now() where id = $1 and is_active = false', [
            userId(i),
          ]);
        },
        kysely: async (i) => {
          const id = String(userId(i));
          await db
            .updateTable('users')
            .set({ isActive: false, updatedAt: sql`now()` })
            .where('id', '=', id)
            .where('isActive', '=', true)
            .execute();
          await db
            .updateTable('users')
            .set({ isActive: true, updatedAt: sql`now()` })
            .where('id', '=', id)
            .where('isActive', '=', false)
            .execute();
        },
        repository: async (i) => {
          await store.deleteUser(String(userId(i)));
          await store.restoreUser(String(userId(i)));
        },
      },
      {
        name: 'UserRepository.listUsers (offset, 50)',
        raw: (q, i) =>
          q('select * from users where is_active = true order by created_at desc, id desc limit $1 offset $2', [
            50,
            (i * 50) % 5000,
          ]),
        kysely: (i) =>
          db
            .selectFrom('users')
            .selectAll()
            .where('isActive', '=', true)
            .orderBy('createdAt', 'desc')
            .orderBy('id', 'desc')
            .limit(50)
            .offset((i * 50) % 5000)
            .execute(),
        repository: (i) => store.listUsers({ limit: 50, offset: (i * 50) % 5000 }),
      },
      {
        name: 'UserRepository.listUsersPage (keyset, 50)',
        raw: (q, i) =>
          q(
            'select * from users where is_active = true and (created_at, id) < ($1, $2) order by created_at desc, id desc limit $3',
            [start(i).createdAt, start(i).id, 51],
          ),
        kysely: (i) =>
          db
            .selectFrom('users')
            .selectAll()
            .where('isActive', '=', true)
            .where((eb) => eb(eb.refTuple('createdAt', 'id'), '<', eb.tuple(start(i).createdAt, start(i).id)))
            .orderBy('createdAt', 'desc')
            .orderBy('id', 'desc')
            .limit(51)
            .execute(),
        repository: (i) => store.listUsersPage({ limit: 50, cursor: start(i).cursor }),
      },
      {
        name: 'UserRepository.countUsers',
        raw: (q) => q('select count(*) from users where is_active = true', []),
        kysely: () =>
          db
            .selectFrom('users')
            .select((eb) => eb.fn.countAll().as('count'))
            .where('isActive', '=', true)
            .executeTakeFirst(),
        repository: () => store.countUsers(),
      },
      {
        name: 'UserRepository.getUserStats',
        raw: (q) =>
          q(
            'select count(*), count(*) filter (where is_active), count(*) filter (where not is_active), min(created_at), max(created_at) from users',
            [],
          ),
        kysely: () =>
          db
            .selectFrom('users')
            .select((eb) => [
              eb.fn.countAll().as('total'),
              eb.fn.countAll().filterWhere('isActive', '=', true).as('active'),
              eb.fn.countAll().filterWhere('isActive', '=', false).as('inactive'),
              eb.fn.min('createdAt').as('first'),
              eb.fn.max('createdAt').as('last'),
            ])
            .executeTakeFirst(),
        repository: () => store.getUserStats(),
      },
      {
        name: 'UserRepository.verifyPassword',
        raw: (q, i) => q('select * from users where lower(username) = lower($1) limit 1', [`user${userId(i)}`]),
        kysely: (i) =>
          db
            .selectFrom('users')
            .selectAll()
            .where(sql`lower(username)`, '=', sql`lower(${`user${userId(i)}`})`)
            .limit(1)
            .executeTakeFirst(),
        repository: (i) => store.verifyPassword(`user${userId(i)}`, 'secure_password_123'),
      },
      {
        name: 'UserRepository.changePassword',
        raw: async (q, i) => {
          const { rows } = await q('select * from users where id = $1 and is_active = true', [userId(i)]);
          const row = rows[0] as { password_hash: string } | undefined;
          await q(
            'update users set password_hash = $1, updated_at = now() where id = $2 and password_hash = $3 and is_active = true',
            [HASH, userId(i), row?.password_hash],
          );
        },
        kysely: async (i) => {
          const id = String(userId(i));
          const row = await db
            .selectFrom('users')
            .selectAll()
            .where('id', '=', id)
            .where('isActive', '=', true)
            .executeTakeFirst();
          await db
            .updateTable('users')
            .set({ passwordHash: HASH, updatedAt: sql`now()` })
            .where('id', '=', id)
            .where('passwordHash', '=', row?.passwordHash ?? '')
            .where('isActive', '=', true)
            .execute();
        },
        repository: (i) => store.changePassword(String(userId(i)), 'secure_password_123', 'another_password_456'),
      },
    ];

    console.log(
      `\nEvery public path vs raw pg — PostgreSQL ${bench.serverVersion}, ${USERS.toLocaleString('en')} users and ` +
        `${ITEMS.toLocaleString('en')} items, pool ${POOL}, ${WORKERS} workers, ${ROUNDS} rounds × ${SECONDS}s, medians\n`,
    );
    const rows: string[][] = [];
    // one name per statement text across the run: the pool's connections keep them
    const names = new Map<string, string>();
    for (const workload of workloads.filter((w) => picked(w.name))) {
      const run: Record<Contender, Op> = {
        'raw pg': (i) => workload.raw((text, values) => pool.query(text, values), i),
        'raw pg prepared': (i) =>
          workload.raw((text, values) => {
            let name = names.get(text);
            if (name === undefined) names.set(text, (name = `p${names.size + 1}`));
            return pool.query({ name, text, values });
          }, i),
        Kysely: workload.kysely,
        Repository: workload.repository,
      };
      const samples = new Map<Contender, Sample[]>(CONTENDERS.map((c) => [c, []]));
      for (const contender of CONTENDERS) await measure(run[contender], WORKERS, 0.3); // warm-up
      for (let round = 0; round < ROUNDS; round++) {
        for (const contender of turnOrder(CONTENDERS, round)) {
          samples.get(contender)!.push(await measure(run[contender], WORKERS, SECONDS));
        }
      }
      const ops = (c: Contender) => median(samples.get(c)!.map((s) => s.opsPerSecond));
      const cpu = (c: Contender) => median(samples.get(c)!.map((s) => s.cpuMicros));
      const mine = ops('Repository');
      rows.push([
        workload.name,
        Math.round(ops('raw pg')).toLocaleString('en'),
        cpu('raw pg').toFixed(0),
        (ops('raw pg prepared') / ops('raw pg')).toFixed(2) + '×',
        (ops('Kysely') / ops('raw pg')).toFixed(2) + '×',
        Math.round(mine).toLocaleString('en'),
        cpu('Repository').toFixed(0),
        (mine / ops('raw pg')).toFixed(2) + '×',
        (mine / ops('Kysely')).toFixed(2) + '×',
      ]);
    }
    printTable(
      [
        'path',
        'raw pg ops/s',
        'raw µs',
        'prepared',
        'Kysely',
        'Repository ops/s',
        'Repo µs',
        'Repo / raw pg',
        'Repo / Kysely',
      ],
      rows,
    );
    console.log(
      '\n(µs: client CPU per operation; prepared, Kysely and Repo / raw pg: throughput as a share of raw pg)',
    );
  } finally {
    await pool.end();
    await database.close();
    await bench.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchPaths();
