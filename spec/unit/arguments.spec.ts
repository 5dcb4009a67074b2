/**
 * Arguments checked at the door, for the user store, the password policy and hasher, the
 * configuration and the logger: undefined and null options mean the defaults; a Proxy, a throwing
 * getter or a value of the wrong type is a ValidationError (or, for the environment, a
 * ConfigError) naming the argument, never a raw error from deep inside; each object is read once;
 * a bad policy never switches a check off. The UserRepository cases run on a real PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { expect } from 'chai';
import { sql } from 'kysely';
import {
  BcryptPasswordHasher,
  ConfigError,
  createDatabase,
  createLogger,
  DEFAULT_USER_POLICY,
  loadConfig,
  migrateToLatest,
  resolveUserPolicy,
  sealConfig,
  silentLogger,
  UserRepository,
  validatePassword,
  validateUserChanges,
  ValidationError,
  type Database,
  type DatabaseConfig,
  type DB,
} from '../../lib/index.js';
import { validateNewUser } from '../../lib/users/user-validation.js';
import { rejection } from '../support/spec-helpers.js';
import { createScratchDatabase } from '../support/test-server.js';

/** Passes a value of the wrong type where a typed one is expected, as a JavaScript caller could. */
function untyped<T>(value: unknown): T {
  return value as T;
}

/** The error a trap throws: a plain Error that must never come back out untyped. */
class Trap extends Error {}

function trap(): never {
  throw new Trap('a trap was called');
}

/** A Proxy whose every trap throws. */
function throwingProxy(): object {
  return new Proxy(
    {},
    {
      get: trap,
      has: trap,
      ownKeys: trap,
      getPrototypeOf: trap,
      getOwnPropertyDescriptor: trap,
      set: trap,
      defineProperty: trap,
      deleteProperty: trap,
      isExtensible: trap,
      preventExtensions: trap,
    },
  );
}

/** An object whose enumerable `keys` throw when read. */
function throwingGetters(...keys: string[]): object {
  const object: Record<string, unknown> = {};
  for (const key of keys) Object.defineProperty(object, key, { get: trap, enumerable: true });
  return object;
}

/** An object whose `values` count how often each is read, in `reads`. */
function counting(values: Record<string, unknown>): { object: object; reads: Record<string, number> } {
  const reads: Record<string, number> = {};
  const object: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    reads[key] = 0;
    Object.defineProperty(object, key, {
      enumerable: true,
      get: () => {
        reads[key]! += 1;
        return value;
      },
    });
  }
  return { object, reads };
}

/** The error `fn` throws, checked to be a ValidationError naming `field`. */
function validationError(fn: () => unknown, field: string): ValidationError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'a ValidationError').to.be.instanceOf(ValidationError);
  expect((caught as ValidationError).field).to.equal(field);
  return caught as ValidationError;
}

/** The error `fn` throws, checked to be a ConfigError naming `variable`. */
function configError(fn: () => unknown, variable: string): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'a ConfigError').to.be.instanceOf(ConfigError);
  expect((caught as ConfigError).variable).to.equal(variable);
  return caught as ConfigError;
}

/** The rejection of `promise`, checked to be a ValidationError naming `field`. */
async function rejectedWith(promise: Promise<unknown>, field: string): Promise<ValidationError> {
  const error = await rejection(promise);
  expect(error, 'a ValidationError').to.be.instanceOf(ValidationError);
  expect((error as ValidationError).field).to.equal(field);
  return error as ValidationError;
}

const URL = 'postgres://app:pw-Secret-123@db.internal:6543/appdb';
const ENV = { DATABASE_URL: URL };
const NO_FILE = { envFile: '/dev/null' };

describe('arguments of the user store, policy, hasher, configuration and logger', () => {
  describe('resolveUserPolicy', () => {
    it('takes undefined, null and {} for the defaults, and serves a policy it made as it is', () => {
      for (const overrides of [undefined, null, {}]) {
        expect(resolveUserPolicy(untyped(overrides))).to.deep.equal(DEFAULT_USER_POLICY);
      }
      const policy = resolveUserPolicy({ minLength: 10 });
      expect(resolveUserPolicy(policy)).to.equal(policy);
    });

    it('refuses what is not a plain object, or cannot be read, naming the policy', () => {
      for (const overrides of [42, 'strict', ['minLength'], new Date(0), () => 8, throwingProxy()]) {
        validationError(() => resolveUserPolicy(untyped(overrides)), 'policy');
      }
      const error = validationError(() => resolveUserPolicy(untyped(throwingGetters('minLength'))), 'policy');
      expect(error.cause).to.be.instanceOf(Trap);
    });

    it('refuses a key that is not a setting (a typo never leaves the default in force) and a wrong type', () => {
      validationError(() => resolveUserPolicy(untyped({ minLenght: 12 })), 'policy.minLenght');
      validationError(
        () => resolveUserPolicy(untyped(JSON.parse('{"__proto__":{"minLength":1}}'))),
        'policy.__proto__',
      );
      validationError(() => resolveUserPolicy(untyped({ minLength: '12' })), 'policy.minLength');
      validationError(() => resolveUserPolicy(untyped({ maxBytes: null })), 'policy.maxBytes');
      validationError(() => resolveUserPolicy(untyped({ bcryptCost: 10n })), 'policy.bcryptCost');
    });

    it('reads each setting once', () => {
      const { object, reads } = counting({ minLength: 10, maxBytes: 64, bcryptCost: 5 });
      expect(resolveUserPolicy(untyped(object))).to.deep.equal({ minLength: 10, maxBytes: 64, bcryptCost: 5 });
      expect(reads).to.deep.equal({ minLength: 1, maxBytes: 1, bcryptCost: 1 });
    });
  });

  describe('validatePassword: a bad policy never switches a check off', () => {
    it('uses the defaults for undefined, null, {} and missing keys', () => {
      for (const policy of [undefined, null, {}, { maxBytes: 72 }, { [Symbol('x')]: 1 }]) {
        expect(validatePassword('valid-password', untyped(policy))).to.equal('valid-password');
        expect(validationError(() => validatePassword('short', untyped(policy)), 'password').rule).to.equal(
          'minLength',
        );
        expect(validationError(() => validatePassword('p'.repeat(73), untyped(policy)), 'password').rule).to.equal(
          'maxBytes',
        );
      }
    });

    it('refuses a policy that is not one, before looking at the password', () => {
      for (const policy of [42, 'strict', [8, 72], () => 8, throwingProxy(), throwingGetters('minLength')]) {
        validationError(() => validatePassword('valid-password', untyped(policy)), 'policy');
        validationError(() => validatePassword('short', untyped(policy)), 'policy');
      }
      validationError(() => validatePassword('valid-password', untyped({ minLength: '8' })), 'policy.minLength');
      validationError(() => validatePassword('valid-password', untyped({ maxBytes: Infinity })), 'policy.maxBytes');
      validationError(() => validatePassword('valid-password', untyped({ minLength: 0 })), 'policy.minLength');
    });

    it('still follows a good policy, and names the field it is given', () => {
      const error = validationError(
        () => validatePassword('elevenchars', { minLength: 12, maxBytes: 64 }, 'next'),
        'next',
      );
      expect(error.rule).to.equal('minLength');
    });
  });

  describe('validateNewUser and validateUserChanges', () => {
    it('refuses a user that throws while it is read, naming the user', () => {
      for (const user of [throwingProxy(), throwingGetters('username', 'email', 'password')]) {
        const error = validationError(() => validateNewUser(user, DEFAULT_USER_POLICY), 'user');
        expect(error.cause).to.be.instanceOf(Trap);
      }
    });

    it("reads each of a new user's fields once", () => {
      const { object, reads } = counting({ username: 'ann', email: 'Ann@Example.com', password: 'secret-pw-1' });
      expect(validateNewUser(object, DEFAULT_USER_POLICY)).to.deep.equal({
        username: 'ann',
        email: 'ann@example.com',
        password: 'secret-pw-1',
      });
      expect(reads).to.deep.equal({ username: 1, email: 1, password: 1 });
    });

    it('refuses changes that throw while they are read, naming the changes', () => {
      const error = validationError(() => validateUserChanges(throwingProxy()), 'changes');
      expect(error.cause).to.be.instanceOf(Trap);
      validationError(() => validateUserChanges(throwingGetters('email')), 'changes');
      // a key that may not be changed is named before any value is read
      validationError(() => validateUserChanges(throwingGetters('email', 'passwordHash')), 'passwordHash');
    });

    it('reads each change once', () => {
      const { object, reads } = counting({ username: 'ann', email: 'A@B.io', isActive: false });
      expect(validateUserChanges(object)).to.deep.equal({ username: 'ann', email: 'a@b.io', isActive: false });
      expect(reads).to.deep.equal({ username: 1, email: 1, isActive: 1 });
    });
  });

  describe('new BcryptPasswordHasher', () => {
    it('takes undefined, null and {} for the default cost', () => {
      for (const options of [undefined, null, {}]) {
        expect(new BcryptPasswordHasher(untyped(options)).cost).to.equal(DEFAULT_USER_POLICY.bcryptCost);
      }
    });

    it('refuses options that are not a plain object or cannot be read, naming them', () => {
      for (const options of [42, 'cost', [4], throwingProxy(), throwingGetters('cost')]) {
        validationError(() => new BcryptPasswordHasher(untyped(options)), 'options');
      }
      validationError(() => new BcryptPasswordHasher(untyped({ cost: '5' })), 'cost');
    });
  });

  describe('createLogger', () => {
    it('takes undefined, null and {} for the defaults', () => {
      for (const options of [undefined, null, {}]) {
        const logger = createLogger(untyped(options));
        expect(logger.level).to.equal('info');
        logger.close();
      }
    });

    it('refuses options that are not a plain object or cannot be read, naming them', () => {
      for (const options of [42, 'debug', ['debug'], throwingProxy(), throwingGetters('level')]) {
        validationError(() => createLogger(untyped(options)), 'options');
      }
    });

    it('refuses a level, format or transports outside what each allows, naming it', () => {
      validationError(() => createLogger(untyped({ level: 'verbose' })), 'level');
      validationError(() => createLogger(untyped({ level: 'constructor' })), 'level');
      validationError(() => createLogger(untyped({ format: 'xml' })), 'format');
      validationError(() => createLogger(untyped({ format: 1 })), 'format');
      validationError(() => createLogger(untyped({ transports: 'console' })), 'transports');
      validationError(() => createLogger(untyped({ transports: [null] })), 'transports');
    });
  });

  describe('loadConfig', () => {
    it('refuses an environment that is not an object or cannot be read: a ConfigError naming env', () => {
      for (const env of [null, 'DATABASE_URL=x', 42, [URL], throwingProxy(), throwingGetters('DATABASE_URL')]) {
        configError(() => loadConfig(untyped(env), NO_FILE), 'env');
      }
    });

    it('takes null options for the defaults', () => {
      // the default .env may exist where the spec runs: the environment wins over it
      expect(loadConfig(ENV, null).connection?.host).to.equal('db.internal');
    });

    it('refuses options that are not a plain object or cannot be read, and a bad envFile or logger', () => {
      for (const options of [42, '.env', ['.env'], throwingProxy(), throwingGetters('envFile')]) {
        validationError(() => loadConfig(ENV, untyped(options)), 'options');
      }
      for (const envFile of [42, '', 'a\u0000b', {}])
        validationError(() => loadConfig(ENV, untyped({ envFile })), 'envFile');
      for (const logger of [42, {}, throwingProxy(), throwingGetters('warn')]) {
        validationError(() => loadConfig(ENV, untyped({ ...NO_FILE, logger })), 'logger');
      }
    });

    it('an envFile that cannot be read is a ConfigError naming envFile', () => {
      const dir = mkdtempSync(join(tmpdir(), 'kr-args-'));
      try {
        configError(() => loadConfig(ENV, { envFile: dir }), 'envFile');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a logger whose warn throws changes nothing: the warning is dropped, the config loads', () => {
      const logger = { warn: trap };
      const config = loadConfig({ ...ENV, DB_POOL_SIZ: '3' }, { ...NO_FILE, logger });
      expect(config.pool.size).to.equal(10);
    });
  });

  describe('sealConfig', () => {
    /** A DatabaseConfig built by hand from a loaded one (not yet sealed). */
    function handMade(overrides: Record<string, unknown> = {}): DatabaseConfig {
      return untyped({ ...loadConfig(ENV, NO_FILE), ...overrides });
    }

    it('refuses what is not a DatabaseConfig, naming what is missing', () => {
      for (const value of [undefined, null, 42, 'config', [1], () => 1, new Date(0)]) {
        expect(validationError(() => sealConfig(untyped(value)), 'config').message).to.include('config must be');
      }
      expect(validationError(() => sealConfig(untyped({})), 'config').message).to.include('config.engine');
      expect(validationError(() => sealConfig(handMade({ pool: undefined })), 'config').message).to.include(
        'config.pool',
      );
      expect(validationError(() => sealConfig(handMade({ replicas: 'r' })), 'config').message).to.include(
        'config.replicas',
      );
      expect(validationError(() => sealConfig(handMade({ connection: undefined })), 'config').message).to.include(
        'config.connection',
      );
    });

    it('refuses an object that throws while it is read, or has getters, without calling them', () => {
      validationError(() => sealConfig(untyped(throwingProxy())), 'config');
      const getters = throwingGetters('engine', 'toString');
      expect(validationError(() => sealConfig(untyped(getters)), 'config').message).to.include('getter');
      expect(Object.isFrozen(getters)).to.equal(false);
    });

    it('refuses a frozen object it did not seal: it could not give it a redacting toString', () => {
      validationError(() => sealConfig(Object.freeze(handMade())), 'config');
      validationError(() => sealConfig(untyped(Object.freeze({}))), 'config');
    });

    it('seals a config built by hand: frozen, and no description shows the password', () => {
      const config = handMade({
        pool: { size: 4, acquireTimeoutMs: 1000, idleTimeoutMs: 1000, maxLifetimeSeconds: 60 },
      });
      const sealed = sealConfig(config);
      expect(sealed).to.equal(config);
      expect(Object.isFrozen(sealed)).to.equal(true);
      expect(sealed.pool.size).to.equal(4);
      for (const text of [String(sealed), JSON.stringify(sealed), inspect(sealed)]) {
        expect(text).to.include('db.internal');
        expect(text).not.to.include('pw-Secret-123');
      }
      expect(sealConfig(sealed)).to.equal(sealed);
      const loaded = loadConfig(ENV, NO_FILE);
      expect(sealConfig(loaded)).to.equal(loaded);
    });
  });

  describe('UserRepository (real PostgreSQL)', () => {
    let target: { url: string; drop(): Promise<void> };
    let database: Database<DB>;
    let users: UserRepository;

    before(async function () {
      this.timeout(60_000);
      target = await createScratchDatabase('kr_arguments');
      database = createDatabase<DB>({
        config: loadConfig({ DATABASE_URL: target.url }, NO_FILE),
        logger: silentLogger,
      });
      await migrateToLatest(database.db);
    });

    after(async () => {
      await database?.close();
      await target?.drop();
    });

    beforeEach(async () => {
      await sql`truncate users restart identity`.execute(database.db);
      users = new UserRepository(database.db, { policy: { bcryptCost: 4 } });
      await users.createUser({ username: 'ann', email: 'ann@example.com', password: 'ann-password-1' });
      await users.createUser({ username: 'bob', email: 'bob@example.com', password: 'bob-password-1' });
      await users.deleteUser((await users.getUserByUsername('bob'))!.id);
    });

    /** Every stored row, to show a refused call changed nothing. */
    async function storedRows(): Promise<unknown[]> {
      return (await sql`select * from users order by id`.execute(database.db)).rows;
    }

    it('refuses a db that is not a Kysely instance, naming db', () => {
      for (const db of [undefined, null, {}, 42, 'postgres://x', throwingProxy()]) {
        validationError(() => new UserRepository(untyped(db)), 'db');
      }
    });

    it('takes null options for the defaults, and refuses options it cannot read', async () => {
      const byDefault = new UserRepository(database.db, null);
      expect(byDefault.policy).to.deep.equal(DEFAULT_USER_POLICY);
      expect(await byDefault.countUsers()).to.equal(1);
      for (const options of [42, 'options', [{}], throwingProxy(), throwingGetters('policy', 'hasher')]) {
        validationError(() => new UserRepository(database.db, untyped(options)), 'options');
      }
      validationError(() => new UserRepository(database.db, untyped({ policy: throwingProxy() })), 'policy');
      validationError(() => new UserRepository(database.db, untyped({ hasher: throwingProxy() })), 'hasher');
      validationError(() => new UserRepository(database.db, untyped({ logger: {} })), 'logger');
      validationError(() => new UserRepository(database.db, untyped({ logger: throwingProxy() })), 'logger');
    });

    it('listUsers, listUsersPage and countUsers take null for the defaults', async () => {
      const listed = await users.listUsers(null);
      expect(listed.map((u) => u.username)).to.deep.equal(['ann']);
      expect(listed).to.deep.equal(await users.listUsers());
      const page = await users.listUsersPage(null);
      expect(page.items.map((u) => u.username)).to.deep.equal(['ann']);
      expect(page).to.include({ hasMore: false, nextCursor: null });
      expect(await users.countUsers(null)).to.equal(1);
    });

    it('listUsers, listUsersPage and countUsers refuse options they cannot read, naming them', async () => {
      for (const options of [42, 'limit=1', [1], throwingProxy(), throwingGetters('limit', 'activeOnly')]) {
        await rejectedWith(users.listUsers(untyped(options)), 'options');
        await rejectedWith(users.listUsersPage(untyped(options)), 'options');
        await rejectedWith(users.countUsers(untyped(options)), 'options');
      }
      await rejectedWith(users.listUsersPage(untyped({ withTotal: 'yes' })), 'withTotal');
    });

    it('reads list options once', async () => {
      const { object, reads } = counting({ limit: 5, offset: 0, activeOnly: false });
      expect((await users.listUsers(untyped(object))).map((u) => u.username)).to.deep.equal(['bob', 'ann']);
      expect(reads).to.deep.equal({ limit: 1, offset: 1, activeOnly: 1 });
    });

    it('createUser refuses a user that throws while it is read, and writes nothing', async () => {
      const before = await storedRows();
      for (const user of [throwingProxy(), throwingGetters('username', 'email', 'password')]) {
        await rejectedWith(users.createUser(untyped(user)), 'user');
      }
      expect(await storedRows()).to.deep.equal(before);
    });

    it('updateUser refuses changes that throw while they are read, and changes nothing', async () => {
      const before = await storedRows();
      const ann = (await users.getUserByUsername('ann'))!;
      await rejectedWith(users.updateUser(ann.id, untyped(throwingProxy())), 'changes');
      await rejectedWith(users.updateUser(ann.id, untyped(throwingGetters('email'))), 'changes');
      expect(await storedRows()).to.deep.equal(before);
    });
  });
});
