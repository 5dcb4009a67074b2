// The README's example of an application service that takes a UserStore in its constructor, and
// of its own mocha spec stubbing the repository with sinon — kept here so it keeps compiling and passing.
import * as chai from 'chai';
import chaiAsPromised from 'chai-as-promised';
import sinon from 'sinon';
import { ConflictError, UserRepository, type NewUser, type User, type UserStore } from '../../lib/index.js';

chai.use(chaiAsPromised);
const { expect } = chai;

interface Mailer {
  sendWelcome(email: string): Promise<void>;
}

class SignupService {
  constructor(
    private readonly users: UserStore,
    private readonly mailer: Mailer,
  ) {}

  async signUp(input: NewUser): Promise<User> {
    const user = await this.users.createUser(input);
    await this.mailer.sendWelcome(user.email);
    return user;
  }
}

describe('an application service with an injected UserStore (README example)', () => {
  const sandbox = sinon.createSandbox();
  afterEach(() => sandbox.restore());

  it('does not mail when the username is taken', async () => {
    const users = sandbox.createStubInstance(UserRepository);
    users.createUser.rejects(new ConflictError('username', "Username 'ada' already exists"));
    const mailer = { sendWelcome: sandbox.stub<[string], Promise<void>>().resolves() };
    const service = new SignupService(users, mailer);
    await expect(service.signUp({ username: 'ada', email: 'a@x.io', password: 'correct horse' })).to.be.rejectedWith(
      ConflictError,
    );
    expect(mailer.sendWelcome.called).to.equal(false);
  });

  it('mails the new user once the store has created it', async () => {
    const users = sandbox.createStubInstance(UserRepository);
    const ada = { id: '1', username: 'ada', email: 'a@x.io', isActive: true } as User;
    users.createUser.resolves(ada);
    const mailer = { sendWelcome: sandbox.stub<[string], Promise<void>>().resolves() };
    expect(await new SignupService(users, mailer).signUp({ username: 'ada', email: 'a@x.io', password: 'x' })).to.equal(
      ada,
    );
    expect(mailer.sendWelcome.calledOnceWithExactly('a@x.io')).to.equal(true);
  });
});
