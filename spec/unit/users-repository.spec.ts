/**
 * UserRepository's logic with its collaborators stubbed through a sinon sandbox: the hasher,
 * the logger, and the generic Repository it owns (on a Kysely that never connects). What the
 * database itself decides (constraints, paging, the rehash write) is proved in
 * spec/integration/users.spec.ts.
 */
import { expect, use } from 'chai';
import chaiAsPromised from 'chai-as-promised';
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type Selectable,
} from 'kysely';
import sinon from 'sinon';
import {
  CheckViolationError,
  ConflictError,
  Repository,
  UniqueViolationError,
  UserRepository,
  ValidationError,
  type DB,
  type PasswordHasher,
  type UserStore,
  type Users,
} from '../../lib/index.js';

use(chaiAsPromised);

const HASH = '$2b$12$C6UzMDM.H6dfI/f/IKcEeO5x9hC0XGm0GqzWvW1kYQ3lWm9cMh4yS';
const DUMMY = '$2b$12$dummydummydummydummydu0000000000000000000000000000000';

function row(overrides: Partial<Selectable<Users>> = {}): Selectable<Users> {
  return {
    id: '1',
    username: 'john_doe',
    email: 'john@example.com',
    passwordHash: HASH,
    isActive: true,
    createdAt: new Date('2026-01-01T00:00:00Z'),
    updatedAt: new Date('2026-01-01T00:00:00Z'),
    ...overrides,
  };
}

/** A Kysely<DB> that compiles queries but never connects. */
function offlineDb(): Kysely<DB> {
  return new Kysely<DB>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => new PostgresIntrospector(db),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  });
}

function uniqueViolation(constraint: string): UniqueViolationError {
  return new UniqueViolationError(`duplicate key value violates unique constraint "${constraint}"`, {
    code: '23505',
    constraint,
    table: 'users',
  });
}

describe('UserRepository (collaborators stubbed)', () => {
  const sandbox = sinon.createSandbox();
  let hasher: { hash: sinon.SinonStub; verify: sinon.SinonStub; needsRehash: sinon.SinonStub };
  let logger: { error: sinon.SinonStub; warn: sinon.SinonStub; info: sinon.SinonStub; debug: sinon.SinonStub };
  let repository: {
    create: sinon.SinonStub;
    findById: sinon.SinonStub;
    findOne: sinon.SinonStub;
    findMany: sinon.SinonStub;
    paginate: sinon.SinonStub;
    count: sinon.SinonStub;
    updateMany: sinon.SinonStub;
    delete: sinon.SinonStub;
    restore: sinon.SinonStub;
  };
  let users: UserRepository;

  beforeEach(() => {
    hasher = {
      hash: sandbox.stub().callsFake((password: string) => Promise.resolve(password.length > 20 ? DUMMY : HASH)),
      verify: sandbox.stub().resolves(false),
      needsRehash: sandbox.stub().returns(false),
    };
    logger = { error: sandbox.stub(), warn: sandbox.stub(), info: sandbox.stub(), debug: sandbox.stub() };
    const proto = Repository.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
    const stub = (name: string): sinon.SinonStub => sandbox.stub(proto, name).rejects(new Error(`unexpected ${name}`));
    repository = {
      create: stub('create'),
      findById: stub('findById'),
      findOne: stub('findOne'),
      findMany: stub('findMany'),
      paginate: stub('paginate'),
      count: stub('count'),
      updateMany: stub('updateMany'),
      delete: stub('delete'),
      restore: stub('restore'),
    };
    users = new UserRepository(offlineDb(), { hasher: hasher, logger: logger });
  });

  afterEach(() => sandbox.restore());

  describe('createUser', () => {
    it('hashes the password and stores only the hash, with the email normalised; returns no hash', async () => {
      repository.create.callsFake((values: Record<string, unknown>) => Promise.resolve(row({ ...values, id: '7' })));
      const user = await users.createUser({
        username: 'john_doe',
        email: ' John@Example.com',
        password: 'secure_password_123',
      });
      expect(hasher.hash.calledOnceWithExactly('secure_password_123')).to.equal(true);
      const values = repository.create.firstCall.args[0] as Record<string, unknown>;
      expect(values).to.include({ username: 'john_doe', email: 'john@example.com', passwordHash: HASH });
      expect(values).not.to.have.property('password');
      expect(user).to.include({ id: '7', username: 'john_doe', email: 'john@example.com' });
      expect(user).not.to.have.property('passwordHash');
      expect(JSON.stringify(user)).not.to.include('$2b$');
      sinon.assert.calledWith(logger.info, 'user created', sinon.match({ userId: '7', username: 'john_doe' }));
    });

    it('validates before hashing or writing (original cases)', async () => {
      const cases: [Record<string, string>, string][] = [
        [
          { username: 'ab', email: 'john@example.com', password: 'secure_password_123' },
          'Username must be at least 3 characters',
        ],
        [
          { username: 'john_doe', email: 'invalid-email', password: 'secure_password_123' },
          'Valid email address is required',
        ],
        [
          { username: 'john_doe', email: 'john@example.com', password: 'short' },
          'Password must be at least 8 characters',
        ],
      ];
      for (const [input, message] of cases) {
        await expect(users.createUser(input as never)).to.eventually.be.rejectedWith(ValidationError, message);
      }
      sinon.assert.notCalled(hasher.hash);
      sinon.assert.notCalled(repository.create);
    });

    it('maps a violation of users_username_key to ConflictError "Username \'x\' already exists"', async () => {
      const violation = uniqueViolation('users_username_key');
      repository.create.rejects(violation);
      await expect(users.createUser({ username: 'john_doe', email: 'j@x.io', password: 'secure_password_123' }))
        .to.eventually.be.rejectedWith(ConflictError, "Username 'john_doe' already exists")
        .and.include({ field: 'username', constraint: 'users_username_key', cause: violation });
    });

    it('maps a violation of users_email_lower_key to ConflictError "Email \'x\' already registered"', async () => {
      repository.create.rejects(uniqueViolation('users_email_lower_key'));
      await expect(users.createUser({ username: 'john_doe', email: 'J@X.io', password: 'secure_password_123' }))
        .to.eventually.be.rejectedWith(ConflictError, "Email 'j@x.io' already registered")
        .and.include({ field: 'email' });
    });

    it('lets other errors through as they are: another unique key, a check violation', async () => {
      const other = uniqueViolation('users_pkey');
      repository.create.rejects(other);
      await expect(users.createUser({ username: 'abc', email: 'a@b.io', password: '12345678' })).to.be.rejectedWith(
        other,
      );
      const check = new CheckViolationError('check', { constraint: 'users_email_normalized_check' });
      repository.create.rejects(check);
      await expect(users.createUser({ username: 'abc', email: 'a@b.io', password: '12345678' })).to.be.rejectedWith(
        check,
      );
    });
  });

  describe('lookups', () => {
    it('strip the hash, find inactive users too, and return undefined when absent', async () => {
      repository.findById.resolves(row({ isActive: false }));
      const user = await users.getUserById(1);
      expect(user).to.include({ id: '1', isActive: false }).and.not.have.property('passwordHash');
      expect(repository.findById.firstCall.args).to.deep.equal(['1', { withDeleted: true }]);

      repository.findOne.resolves(undefined);
      expect(await users.getUserByUsername('nobody')).to.equal(undefined);
      // where lower(username) = lower('nobody'), proved on a real server in users-case.spec.ts
      const [where, options] = repository.findOne.firstCall.args as [unknown, unknown];
      expect(where).to.be.a('function');
      expect(options).to.deep.equal({ withDeleted: true });
      expect(await users.getUserByEmail('NoBody@X.io')).to.equal(undefined);
    });

    it('refuse non-string names and malformed ids before querying', async () => {
      await expect(users.getUserByUsername(5 as never)).to.eventually.be.rejectedWith(ValidationError);
      await expect(users.getUserByEmail(undefined as never)).to.eventually.be.rejectedWith(ValidationError);
      await expect(users.getUserById('abc')).to.eventually.be.rejectedWith(ValidationError);
      sinon.assert.notCalled(repository.findOne);
      sinon.assert.notCalled(repository.findById);
    });
  });

  describe('verifyPassword', () => {
    it('returns the user (without hash) when the password is right and the user active', async () => {
      repository.findOne.resolves(row());
      hasher.verify.withArgs('secure_password_123', HASH).resolves(true);
      const user = await users.verifyPassword('john_doe', 'secure_password_123');
      expect(user).to.include({ id: '1' }).and.not.have.property('passwordHash');
      sinon.assert.notCalled(repository.updateMany);
    });

    it('does the same hashing work for an unknown username, against a dummy hash made once per hasher', async () => {
      repository.findOne.resolves(undefined);
      expect(await users.verifyPassword('ghost', 'password-1')).to.equal(undefined);
      expect(await users.verifyPassword('ghost', 'password-2')).to.equal(undefined);
      expect(hasher.verify.args).to.deep.equal([
        ['password-1', DUMMY],
        ['password-2', DUMMY],
      ]);
      // a second repository on the same hasher reuses its dummy hash
      const other = new UserRepository(offlineDb(), { hasher: hasher });
      await other.verifyPassword('ghost', 'password-3');
      expect(hasher.hash.callCount).to.equal(1);
      sinon.assert.calledWith(
        logger.info,
        'login failed',
        sinon.match({ username: 'ghost', reason: 'unknown username' }),
      );
    });

    it('compares, then refuses, for an inactive user', async () => {
      repository.findOne.resolves(row({ isActive: false }));
      hasher.verify.resolves(true);
      expect(await users.verifyPassword('john_doe', 'secure_password_123')).to.equal(undefined);
      sinon.assert.calledOnce(hasher.verify);
      sinon.assert.calledWith(logger.info, 'login failed', sinon.match({ reason: 'inactive user' }));
    });

    it('refuses a wrong password and never logs a password or hash', async () => {
      repository.findOne.resolves(row());
      expect(await users.verifyPassword('john_doe', 'wrong_password')).to.equal(undefined);
      const logged = JSON.stringify([logger.info.args, logger.debug.args, logger.warn.args]);
      expect(logged).not.to.include('wrong_password');
      expect(logged).not.to.include(HASH);
    });

    it('rehashes a weak hash after a successful login, only if it is still the stored one', async () => {
      repository.findOne.resolves(row());
      hasher.verify.resolves(true);
      hasher.needsRehash.withArgs(HASH).returns(true);
      hasher.hash.withArgs('secure_password_123').resolves('$2b$13$new');
      repository.updateMany.resolves(1);
      expect(await users.verifyPassword('john_doe', 'secure_password_123')).to.include({ id: '1' });
      expect(repository.updateMany.firstCall.args).to.deep.equal([
        { id: '1', passwordHash: HASH },
        { passwordHash: '$2b$13$new' },
      ]);
    });

    it('still logs the user in when storing the new hash fails, and says so at warn', async () => {
      repository.findOne.resolves(row());
      hasher.verify.resolves(true);
      hasher.needsRehash.returns(true);
      repository.updateMany.rejects(new Error('read-only replica'));
      expect(await users.verifyPassword('john_doe', 'secure_password_123')).to.include({ id: '1' });
      sinon.assert.calledWith(logger.warn, 'password rehash failed', sinon.match({ userId: '1' }));
    });
  });

  describe('changePassword', () => {
    it('validates the new password before anything else', async () => {
      await expect(users.changePassword('1', 'old-password', 'short'))
        .to.eventually.be.rejectedWith(ValidationError, 'Password must be at least 8 characters')
        .and.include({ field: 'newPassword' });
      sinon.assert.notCalled(repository.findById);
    });

    it('returns false for a wrong current password or an absent user, without writing', async () => {
      repository.findById.resolves(row());
      expect(await users.changePassword('1', 'wrong-password', 'new-password-1')).to.equal(false);
      repository.findById.resolves(undefined);
      expect(await users.changePassword('2', 'old-password', 'new-password-1')).to.equal(false);
      expect(hasher.verify.lastCall.args).to.deep.equal(['old-password', DUMMY]);
      sinon.assert.notCalled(repository.updateMany);
    });

    it('stores the new hash with compare-and-set on the old one', async () => {
      repository.findById.resolves(row());
      hasher.verify.withArgs('old-password', HASH).resolves(true);
      hasher.hash.withArgs('new-password-1').resolves('$2b$12$next');
      repository.updateMany.resolves(1);
      expect(await users.changePassword('1', 'old-password', 'new-password-1')).to.equal(true);
      expect(repository.updateMany.firstCall.args).to.deep.equal([
        { id: '1', passwordHash: HASH },
        { passwordHash: '$2b$12$next' },
      ]);
      repository.updateMany.resolves(0);
      expect(await users.changePassword('1', 'old-password', 'new-password-1')).to.equal(false);
    });
  });

  describe('updateUser, delete, restore, lists', () => {
    it('updateUser refuses keys other than username, email and isActive before querying', async () => {
      for (const key of ['passwordHash', 'id', '__proto__']) {
        await expect(users.updateUser('1', JSON.parse(`{"${key}": "x"}`) as never))
          .to.eventually.be.rejectedWith(ValidationError)
          .and.include({ field: key });
      }
      // no changes: the user as it is
      repository.findById.resolves(row());
      expect(await users.updateUser('1', {}))
        .to.include({ id: '1' })
        .and.not.have.property('passwordHash');
    });

    it('deleteUser and restoreUser go through the soft-delete Repository and log what changed', async () => {
      repository.delete.resolves(true);
      repository.restore.resolves(false);
      expect(await users.deleteUser(5n)).to.equal(true);
      expect(await users.restoreUser('5')).to.equal(false);
      expect(repository.delete.firstCall.args).to.deep.equal(['5']);
      sinon.assert.calledWith(logger.info, 'user deleted', sinon.match({ userId: '5' }));
      sinon.assert.neverCalledWith(logger.info, 'user restored');
    });

    it('listUsers and listUsersPage order newest first, active only by default, and strip hashes', async () => {
      repository.findMany.resolves([row({ id: '2' }), row({ id: '1' })]);
      repository.paginate.resolves({ items: [row()], nextCursor: 'c', hasMore: true });
      repository.count.resolves(3);
      const listed = await users.listUsers({ offset: 10, limit: 5 });
      expect(listed.map((u) => u.id)).to.deep.equal(['2', '1']);
      expect(repository.findMany.firstCall.args[0]).to.deep.equal({
        orderBy: [
          ['createdAt', 'desc'],
          ['id', 'desc'],
        ],
        limit: 5,
        offset: 10,
        withDeleted: false,
      });
      const page = await users.listUsersPage({ activeOnly: false });
      expect(page).to.deep.include({ nextCursor: 'c', hasMore: true });
      expect(page.items[0]).not.to.have.property('passwordHash');
      expect(repository.paginate.firstCall.args[0]).to.include({ limit: 100, cursor: null, withDeleted: true });
      expect(await users.countUsers()).to.equal(3);
      expect(repository.count.firstCall.args).to.deep.equal([undefined, { withDeleted: false }]);
      await expect(users.listUsers({ limit: 1001 })).to.eventually.be.rejectedWith(ValidationError);
      await expect(users.listUsersPage({ limit: 0 })).to.eventually.be.rejectedWith(ValidationError);
    });
  });

  describe('construction and stubbing', () => {
    it('refuses a policy bcrypt cannot honour, unless another hasher is injected', () => {
      expect(() => new UserRepository(offlineDb(), { policy: { maxBytes: 100 } })).to.throw(
        ValidationError,
        'policy.maxBytes',
      );
      expect(() => new UserRepository(offlineDb(), { policy: { maxBytes: 100 }, hasher: hasher })).not.to.throw();
      expect(() => new UserRepository(offlineDb(), { hasher: {} as PasswordHasher })).to.throw(ValidationError);
      expect(new UserRepository(offlineDb(), { policy: { bcryptCost: 10 } }).policy).to.deep.equal({
        minLength: 8,
        maxBytes: 72,
        bcryptCost: 10,
      });
    });

    it('exposes no generic Repository method that could return a hash', () => {
      const names = Object.getOwnPropertyNames(UserRepository.prototype);
      for (const method of ['findById', 'findOne', 'findMany', 'paginate', 'create', 'update', 'upsert']) {
        expect(names).not.to.include(method);
        expect((users as unknown as Record<string, unknown>)[method]).to.equal(undefined);
      }
      expect(JSON.stringify(users)).to.equal(JSON.stringify({ policy: users.policy }));
    });

    it('can be stubbed method by method, or whole as a UserStore', async () => {
      sandbox.stub(users, 'createUser').resolves(row());
      expect(await users.createUser({ username: 'x', email: 'y', password: 'z' })).to.include({ id: '1' });
      const store: UserStore = sandbox.createStubInstance(UserRepository);
      (store.verifyPassword as sinon.SinonStub).resolves(undefined);
      expect(await store.verifyPassword('a', 'b')).to.equal(undefined);
    });
  });
});
