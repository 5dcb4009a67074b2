import { expect } from 'chai';
import sinon from 'sinon';
import { Repository, UserRepository, ValidationError, type User } from '../../lib/index.js';
import { stubRepository } from '../../lib/testing/index.js';

/** A service as an application writes it: its repository comes through the constructor. */
class Greeter {
  constructor(private readonly users: UserRepository) {}

  async greet(id: string): Promise<string> {
    const user = await this.users.getUserById(id);
    return user ? `hello ${user.username}` : 'who?';
  }
}

describe('testing kit: stubRepository', () => {
  const sandbox = sinon.createSandbox();
  afterEach(() => sandbox.restore());

  it('stubs every method without calling the constructor (no Database needed), injectable where the class is expected', async () => {
    const users = stubRepository(UserRepository, { sandbox });
    users.getUserById.resolves({ id: '1', username: 'ada' } as User);
    expect(await new Greeter(users).greet('1')).to.equal('hello ada');
    expect(users.getUserById.calledOnceWithExactly('1')).to.equal(true);
    expect(await new Greeter(users).greet('2')).to.equal('hello ada');
    users.getUserById.resolves(undefined);
    expect(await new Greeter(users).greet('3')).to.equal('who?');
  });

  it('stubs a generic Repository, and is reset by its sinon sandbox', async () => {
    const orders = stubRepository<Repository<{ orders: { id: string } }, 'orders'>>(Repository, { sandbox });
    orders.count.resolves(3);
    expect(await orders.count()).to.equal(3);
    sandbox.resetBehavior();
    expect(orders.count()).to.equal(undefined);
  });

  it('refuses what is not a class, naming the argument', () => {
    expect(() => stubRepository(42 as never))
      .to.throw(ValidationError)
      .with.property('field', 'constructor');
  });
});
