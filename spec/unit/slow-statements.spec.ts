import { expect } from 'chai';
import { SLOW_STATEMENT_MS, SlowStatements } from '../../lib/connection/pg/slow-statements.js';

describe('SlowStatements', () => {
  it('holds a text slow after a slow run, and forgets it after a fast one', () => {
    const slow = new SlowStatements();
    slow.learn('select pg_sleep(1)', SLOW_STATEMENT_MS - 0.1);
    expect(slow.has('select pg_sleep(1)')).to.equal(false);
    slow.learn('select pg_sleep(1)', SLOW_STATEMENT_MS);
    expect(slow.has('select pg_sleep(1)')).to.equal(true);
    slow.learn('select pg_sleep(1)', 0.2);
    expect(slow.has('select pg_sleep(1)')).to.equal(false);
  });

  it('remembers the 1,000 texts last seen slow, so input that varies the text cannot grow it', () => {
    const slow = new SlowStatements();
    slow.learn('first', 50);
    for (let i = 0; i < 1_000; i++) slow.learn(`text ${i}`, 50);
    expect(slow.has('first')).to.equal(false);
    expect(slow.has('text 0')).to.equal(true);
    expect(slow.has('text 999')).to.equal(true);
  });
});
