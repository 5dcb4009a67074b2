/**
 * BcryptPasswordHasher with the real native bcrypt, at cost 4 (speed is measured in bench/).
 */
import { expect, use } from 'chai';
import chaiAsPromised from 'chai-as-promised';
import { BcryptPasswordHasher, ValidationError } from '../../lib/index.js';

use(chaiAsPromised);

describe('BcryptPasswordHasher', () => {
  const hasher = new BcryptPasswordHasher({ cost: 4 });

  it('makes salted $2b$ hashes at its cost, and verifies them', async () => {
    const first = await hasher.hash('correct horse');
    const second = await hasher.hash('correct horse');
    expect(first).to.match(/^\$2b\$04\$[./A-Za-z0-9]{53}$/);
    expect(second).not.to.equal(first);
    expect(await hasher.verify('correct horse', first)).to.equal(true);
    expect(await hasher.verify('correct horsE', first)).to.equal(false);
    expect(await hasher.verify('', first)).to.equal(false);
  });

  it('refuses to hash more than 72 bytes, and never matches a longer password by its first 72', async () => {
    const at72 = 'p'.repeat(72);
    const hash = await hasher.hash(at72);
    expect(await hasher.verify(at72, hash)).to.equal(true);
    // bcrypt alone would say true here: it ignores every byte after the 72nd
    expect(await hasher.verify(`${at72}tail`, hash)).to.equal(false);
    await expect(hasher.hash(`${at72}x`))
      .to.eventually.be.rejectedWith(ValidationError, 'Password must be at most 72 bytes')
      .and.include({ field: 'password', rule: 'maxBytes' });
    await expect(hasher.hash('é'.repeat(37))).to.eventually.be.rejectedWith(ValidationError);
  });

  it('answers false, never throws, for a malformed hash or non-string input', async () => {
    for (const bad of ['', 'garbage', '$2b$04$short', 'a'.repeat(60), '$2b$04$' + ' '.repeat(53)]) {
      expect(await hasher.verify('whatever', bad)).to.equal(false);
    }
    expect(await hasher.verify(undefined as unknown as string, '$2b$04$' + 'a'.repeat(53))).to.equal(false);
    await expect(hasher.hash(42 as unknown as string)).to.eventually.be.rejectedWith(ValidationError);
  });

  it('needsRehash: a lower cost or a hash that is not bcrypt', async () => {
    const strong = new BcryptPasswordHasher({ cost: 5 });
    const weak = await hasher.hash('password1');
    expect(hasher.needsRehash(weak)).to.equal(false);
    expect(strong.needsRehash(weak)).to.equal(true);
    expect(strong.needsRehash(await strong.hash('password1'))).to.equal(false);
    // a higher cost than ours is not lowered
    expect(hasher.needsRehash(await strong.hash('password1'))).to.equal(false);
    expect(hasher.needsRehash('5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8')).to.equal(true);
  });

  it('defaults to cost 12 and refuses costs outside 4..31', () => {
    expect(new BcryptPasswordHasher().cost).to.equal(12);
    for (const cost of [3, 32, 10.5]) {
      expect(() => new BcryptPasswordHasher({ cost })).to.throw(ValidationError, 'bcrypt cost');
    }
  });
});
