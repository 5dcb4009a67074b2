import { expect } from 'chai';
import { CompiledQuery } from 'kysely';
import { isPreparedQuery } from '../../lib/prepared-query.js';
import { preparedWhenRecurring } from '../../lib/repository/recurring-statements.js';

const query = (text: string, parameters: unknown[] = [1]) => CompiledQuery.raw(text, parameters);

describe('preparedWhenRecurring', () => {
  it('marks a text from its second sighting on, per owner', () => {
    const owner = {};
    const other = {};
    expect(isPreparedQuery(preparedWhenRecurring(owner, query('select $1')))).to.equal(false);
    expect(isPreparedQuery(preparedWhenRecurring(owner, query('select $1')))).to.equal(true);
    expect(isPreparedQuery(preparedWhenRecurring(other, query('select $1')))).to.equal(false);
  });

  it('never marks a text without parameters, which keeps the simple protocol', () => {
    const owner = {};
    for (let i = 0; i < 3; i++) {
      expect(isPreparedQuery(preparedWhenRecurring(owner, query('select 1; select 2', [])))).to.equal(false);
    }
  });

  it('remembers the 500 texts seen last, so input that varies the text cannot grow it', () => {
    const owner = {};
    preparedWhenRecurring(owner, query('select $1 -- first'));
    for (let i = 0; i < 500; i++) preparedWhenRecurring(owner, query(`select $1 -- ${i}`));
    expect(isPreparedQuery(preparedWhenRecurring(owner, query('select $1 -- first'))), 'forgotten').to.equal(false);
    expect(isPreparedQuery(preparedWhenRecurring(owner, query('select $1 -- 499'))), 'kept').to.equal(true);
  });

  it('keeps the parameters and the text of the query it marks', () => {
    const owner = {};
    const given = query('select $1, $2', ['a', 2]);
    preparedWhenRecurring(owner, given);
    const marked = preparedWhenRecurring(owner, given);
    expect(marked.sql).to.equal(given.sql);
    expect(marked.parameters).to.equal(given.parameters);
  });
});
