import { expect } from 'chai';
import { Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql, type Driver } from 'kysely';
import { isWriteStatement } from '../../lib/connection/replicas/write-statement.js';
import { arg, bindCompiled, compileShape, bindShape, ShapeCache } from '../../lib/repository/query-shape.js';

interface Schema {
  items: { id: string; name: string };
}

/** A Kysely that only compiles. */
const q = new Kysely<Schema>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => ({}) as Driver,
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

describe('query shapes', () => {
  it('puts each argument where its placeholder was, and keeps constants', () => {
    const shape = compileShape(
      () =>
        q
          .selectFrom('items')
          .selectAll()
          .where('name', '=', arg(1) as string)
          .where('id', '=', 'constant')
          .limit(sql<number>`${arg(0)}`),
      2,
      false,
    );
    expect(bindShape(shape, [10, 'x']).parameters).to.deep.equal(['x', 'constant', 10]);
  });

  it('never takes a value from data for a placeholder, whatever its text', () => {
    const forged = ['\u0000kysely-repository:arg:0', 'kysely-repository:arg:0', '[object Object]'];
    for (const value of forged) {
      const compiled = q.selectFrom('items').selectAll().where('name', '=', value).compile();
      expect(bindCompiled(compiled, ['replaced']).parameters).to.deep.equal([value]);
    }
  });

  it('refuses a shape that lost an argument', () => {
    expect(() => compileShape(() => q.selectFrom('items').selectAll(), 1, false)).to.throw(/lost argument 0/);
  });

  it("keeps only the statement's kind of Kysely's tree, so whether it writes is judged the same", () => {
    const builders = [
      () =>
        q
          .selectFrom('items')
          .selectAll()
          .where('id', '=', arg(0) as string),
      () =>
        q
          .selectFrom('items')
          .selectAll()
          .where('id', '=', arg(0) as string)
          .forUpdate(),
      () => q.insertInto('items').values({ id: arg(0) as string, name: 'n' }),
      () =>
        q
          .updateTable('items')
          .set({ name: 'n' })
          .where('id', '=', arg(0) as string),
      () => q.deleteFrom('items').where('id', '=', arg(0) as string),
      () =>
        q
          .with('gone', (db) =>
            db
              .deleteFrom('items')
              .where('id', '=', arg(0) as string)
              .returning('id'),
          )
          .selectFrom('gone')
          .selectAll(),
    ];
    for (const build of builders) {
      const full = build().compile();
      const shape = compileShape(build, 1, true);
      expect(shape.query.sql).to.equal(full.sql);
      expect(shape.query.query.kind).to.equal(full.query.kind);
      expect(isWriteStatement(shape.query), full.sql).to.equal(isWriteStatement(full));
    }
    const plain = compileShape(builders[0]!, 1, false).query.query;
    expect(Object.keys(plain)).to.deep.equal(['kind']);
  });

  it('keeps at most `max` shapes per owner, the least recently used evicted first', () => {
    const cache = new ShapeCache(2);
    const owner = {};
    let compiled = 0;
    const get = (key: string) =>
      cache.get(owner, key, () => {
        compiled++;
        return compileShape(() => q.selectFrom('items').selectAll().where('name', '=', key), 0, false);
      });
    get('a');
    get('b');
    get('a'); // a is now the most recently used
    get('c'); // evicts b
    expect(compiled).to.equal(3);
    get('a');
    expect(compiled).to.equal(3);
    get('b');
    expect(compiled).to.equal(4);
  });
});
