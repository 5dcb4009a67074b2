import assert from 'node:assert/strict';
import sinon from 'sinon';
import { ConflictError, UserRepository, type User } from 'kysely-repository';
import { SignupService } from './signup-service.js';

describe('SignupService with a sinon-stubbed UserRepository', () => {
  const sandbox = sinon.createSandbox();
  afterEach(() => sandbox.restore());

  const ada: User = {
    id: '1',
    username: 'ada',
    email: 'ada@example.com',
    isActive: true,
    createdAt: new Date(0),
    updatedAt: new Date(0),
  };

  it('returns the user the repository created', async () => {
    const users = sandbox.createStubInstance(UserRepository);
    users.createUser.resolves(ada);
    const result = await new SignupService(users).signUp('ada', 'ada@example.com', 'a long password');
    assert.deepEqual(result, { ok: true, user: ada });
    sinon.assert.calledOnceWithExactly(users.createUser, {
      username: 'ada',
      email: 'ada@example.com',
      password: 'a long password',
    });
  });

  it('turns the ConflictError the repository throws into a result naming the field', async () => {
    const users = sandbox.createStubInstance(UserRepository);
    users.createUser.rejects(new ConflictError('username', "Username 'ada' already exists"));
    const result = await new SignupService(users).signUp('ada', 'ada@example.com', 'a long password');
    assert.deepEqual(result, { ok: false, reason: 'taken', field: 'username' });
  });
});
