import { expect } from 'chai';
import { PreparedStatementCache } from '../../lib/connection/pg/prepared-statement-cache.js';

describe('PreparedStatementCache', () => {
  it('names each text once, and never gives one name to two texts', () => {
    const cache = new PreparedStatementCache(10);
    const a = cache.nameFor('select 1');
    expect(cache.nameFor('select 1')).to.equal(a);
    expect(cache.nameFor('select 2')).to.not.equal(a);
  });

  it('evicts the least recently used past its bound and hands the evicted name over once', () => {
    const cache = new PreparedStatementCache(2);
    const a = cache.nameFor('a');
    const b = cache.nameFor('b');
    cache.nameFor('a'); // a is now the most recently used
    const c = cache.nameFor('c');
    expect(cache.size).to.equal(2);
    expect(cache.takeStale()).to.deep.equal([b]);
    expect(cache.takeStale()).to.deep.equal([]);
    expect(cache.nameFor('a')).to.equal(a);
    expect(cache.nameFor('c')).to.equal(c);
    // b comes back under a new name: the old one may still exist on the server until deallocated
    expect(cache.nameFor('b')).to.not.equal(b);
  });

  it('gives an invalidated text a new name and marks the old one for deallocation', () => {
    const cache = new PreparedStatementCache(5);
    const old = cache.nameFor('select * from t');
    cache.invalidate('select * from t');
    expect(cache.hasStale).to.equal(true);
    expect(cache.nameFor('select * from t')).to.not.equal(old);
    expect(cache.takeStale()).to.deep.equal([old]);
  });
});
