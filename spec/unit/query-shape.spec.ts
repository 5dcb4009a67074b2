import { expect } from 'chai';
import { Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql, type Driver } from 'kysely';
import { arg, bindCompiled, compileShape, bindShape } from '../../lib/repository/query-shape.js';

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
});
