/**
 * The user rules as pure functions: username, email, password under a policy, the keys
 * updateUser accepts, ids, page options, and the policy itself.
 */
import { expect } from 'chai';
import {
  DEFAULT_USER_POLICY,
  resolveUserPolicy,
  validateEmail,
  validatePassword,
  validateUserChanges,
  validateUsername,
  ValidationError,
} from '../../lib/index.js';
import {
  activeOnly,
  normalizeEmail,
  pageLimit,
  pageOffset,
  userId,
  validateNewUser,
} from '../../lib/users/user-validation.js';

/** The ValidationError `fn` throws. */
function failure(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(ValidationError);
    return error as ValidationError;
  }
  expect.fail('expected a ValidationError');
}

describe('user validation', () => {
  describe('validateUsername', () => {
    it('accepts 3-50 letters, digits, _, . and -', () => {
      for (const name of ['abc', 'john_doe', 'J.Doe-42', 'a'.repeat(50), '___', '1.2']) {
        expect(validateUsername(name)).to.equal(name);
      }
    });

    it('refuses short, long, badly formed and non-string names with the original wording', () => {
      const cases: [unknown, string, string][] = [
        ['', 'minLength', 'Username must be at least 3 characters'],
        ['ab', 'minLength', 'Username must be at least 3 characters'],
        ['a'.repeat(51), 'maxLength', 'Username must be at most 50 characters'],
        ['john doe', 'format', 'Username may contain only letters, digits, _, . and -'],
        ['jöhn', 'format', 'Username may contain only letters, digits, _, . and -'],
        ['john@doe', 'format', 'Username may contain only letters, digits, _, . and -'],
        ['john\n', 'format', 'Username may contain only letters, digits, _, . and -'],
        [undefined, 'required', 'Username is required'],
        [null, 'required', 'Username is required'],
        [42, 'type', 'Username must be a string'],
        [['abc'], 'type', 'Username must be a string'],
      ];
      for (const [value, rule, message] of cases) {
        expect(failure(() => validateUsername(value))).to.include({ field: 'username', rule, message });
      }
    });
  });

  describe('validateEmail', () => {
    it('stores addresses trimmed and lower-cased', () => {
      expect(validateEmail('  John.Doe+tag@Example.COM ')).to.equal('john.doe+tag@example.com');
      expect(validateEmail('a@b.co')).to.equal('a@b.co');
      expect(normalizeEmail(' X@Y.Z ')).to.equal('x@y.z');
    });

    it('accepts up to 254 characters after trimming', () => {
      const email = `${'a'.repeat(64)}@${'b'.repeat(185)}.com`;
      expect(email).to.have.length(254);
      expect(validateEmail(`   ${email}  `)).to.equal(email);
      expect(failure(() => validateEmail(`a${email}`))).to.include({ field: 'email', rule: 'maxLength' });
    });

    it('refuses anything but local@domain.tld, with the original wording', () => {
      const bad = [
        '',
        '   ',
        'invalid-email',
        'john@',
        '@example.com',
        'john@example',
        'john@@example.com',
        'jo hn@example.com',
        'john@exa mple.com',
        'john@example..com',
        'john@.example.com',
        'john@example.com.',
        'john\u0000@example.com',
      ];
      for (const value of bad) {
        expect(
          failure(() => validateEmail(value)),
          JSON.stringify(value),
        ).to.include({
          field: 'email',
          rule: 'format',
          message: 'Valid email address is required',
        });
      }
      expect(failure(() => validateEmail(undefined))).to.include({ rule: 'required' });
      expect(failure(() => validateEmail(7))).to.include({ field: 'email', rule: 'type' });
    });
  });

  describe('validatePassword', () => {
    it('accepts 8 characters to 72 bytes by default, unchanged (never trimmed)', () => {
      for (const password of ['12345678', ' spaced ', 'p'.repeat(72), 'é'.repeat(36), '🔑🔑🔑🔑🔑🔑🔑🔑']) {
        expect(validatePassword(password, DEFAULT_USER_POLICY)).to.equal(password);
      }
    });

    it('counts the minimum in characters and the maximum in UTF-8 bytes', () => {
      expect(failure(() => validatePassword('short', DEFAULT_USER_POLICY))).to.include({
        field: 'password',
        rule: 'minLength',
        message: 'Password must be at least 8 characters',
      });
      // 7 emoji: 7 characters (14 UTF-16 units), 28 bytes
      expect(failure(() => validatePassword('🔑'.repeat(7), DEFAULT_USER_POLICY))).to.include({ rule: 'minLength' });
      // 37 'é': 37 characters but 74 bytes, which bcrypt would silently cut to 72
      expect(failure(() => validatePassword('é'.repeat(37), DEFAULT_USER_POLICY))).to.include({
        field: 'password',
        rule: 'maxBytes',
        message: 'Password must be at most 72 bytes',
      });
      expect(failure(() => validatePassword('p'.repeat(73), DEFAULT_USER_POLICY))).to.include({ rule: 'maxBytes' });
    });

    it('follows a configured policy, and names the field it is given', () => {
      const policy = resolveUserPolicy({ minLength: 12, maxBytes: 64 });
      expect(failure(() => validatePassword('elevenchars', policy, 'newPassword'))).to.include({
        field: 'newPassword',
        message: 'Password must be at least 12 characters',
      });
      expect(failure(() => validatePassword('p'.repeat(65), policy))).to.include({
        message: 'Password must be at most 64 bytes',
      });
    });

    it('refuses non-strings, and never puts the password in the message', () => {
      expect(failure(() => validatePassword(12345678, DEFAULT_USER_POLICY))).to.include({ rule: 'type' });
      expect(failure(() => validatePassword(undefined, DEFAULT_USER_POLICY))).to.include({ rule: 'required' });
      expect(failure(() => validatePassword('secret!', DEFAULT_USER_POLICY)).message).not.to.include('secret!');
    });
  });

  describe('validateNewUser', () => {
    it('checks username, then email, then password, like the original', () => {
      expect(
        failure(() => validateNewUser({ username: 'ab', email: 'bad', password: 'x' }, DEFAULT_USER_POLICY)),
      ).to.include({ field: 'username' });
      expect(
        failure(() => validateNewUser({ username: 'abc', email: 'bad', password: 'x' }, DEFAULT_USER_POLICY)),
      ).to.include({ field: 'email' });
      expect(failure(() => validateNewUser(null, DEFAULT_USER_POLICY))).to.include({ field: 'user', rule: 'type' });
      expect(
        validateNewUser({ username: 'abc', email: ' A@B.io', password: '12345678' }, DEFAULT_USER_POLICY),
      ).to.deep.equal({ username: 'abc', email: 'a@b.io', password: '12345678' });
    });
  });

  describe('validateUserChanges', () => {
    it('accepts username, email and isActive, validated and normalised; undefined means "leave it"', () => {
      expect(validateUserChanges({ username: 'new_name', email: ' New@X.io ', isActive: false })).to.deep.equal({
        username: 'new_name',
        email: 'new@x.io',
        isActive: false,
      });
      expect(validateUserChanges({ username: undefined })).to.deep.equal({});
      expect(validateUserChanges({})).to.deep.equal({});
    });

    it('refuses every other key, naming it', () => {
      for (const key of ['passwordHash', 'password', 'id', 'createdAt', 'updatedAt', 'constructor', 'is_active']) {
        expect(
          failure(() => validateUserChanges({ [key]: 'x' })),
          key,
        ).to.include({ field: key, rule: 'allowed' });
      }
      expect(failure(() => validateUserChanges({ passwordHash: 'x' })).message).to.include('changePassword');
      // from JSON, __proto__ is an own key; in a literal, it sets the prototype: both are refused
      expect(failure(() => validateUserChanges(JSON.parse('{"__proto__":{"isActive":true}}')))).to.include({
        field: '__proto__',
      });
      expect(failure(() => validateUserChanges({ __proto__: { username: 'x' } }))).to.include({ field: '__proto__' });
      expect(failure(() => validateUserChanges({ [Symbol('x')]: 1 }))).to.include({ rule: 'allowed' });
      expect(failure(() => validateUserChanges(Object.defineProperty({}, 'id', { value: 1 })))).to.include({
        field: 'id',
      });
    });

    it('revalidates each value', () => {
      expect(failure(() => validateUserChanges({ username: 'no' }))).to.include({
        field: 'username',
        rule: 'minLength',
      });
      expect(failure(() => validateUserChanges({ email: 'no' }))).to.include({ field: 'email', rule: 'format' });
      expect(failure(() => validateUserChanges({ isActive: 'yes' }))).to.include({ field: 'isActive', rule: 'type' });
      expect(failure(() => validateUserChanges(null))).to.include({ field: 'changes' });
      expect(failure(() => validateUserChanges(['username']))).to.include({ field: 'changes' });
    });
  });

  describe('ids and page options', () => {
    it('userId takes int8 as a number, bigint or decimal string and gives a string', () => {
      expect(userId(42)).to.equal('42');
      expect(userId(42n)).to.equal('42');
      expect(userId('0042')).to.equal('42');
      expect(userId('9223372036854775807')).to.equal('9223372036854775807');
      for (const bad of ['9223372036854775808', '1.5', '', 'abc', '1; drop table users', 1.5, NaN, 2 ** 60, null, {}]) {
        expect(
          failure(() => userId(bad)),
          JSON.stringify(bad),
        ).to.include({ field: 'id', rule: 'type' });
      }
    });

    it('limits are 1..1000 (100 by default), offsets non-negative, activeOnly a boolean (true by default)', () => {
      expect(pageLimit(undefined)).to.equal(100);
      expect(pageLimit(1000)).to.equal(1000);
      for (const bad of [0, 1001, -1, 2.5, '10']) expect(failure(() => pageLimit(bad))).to.include({ field: 'limit' });
      expect(pageOffset(undefined)).to.equal(0);
      for (const bad of [-1, 0.5, '0']) expect(failure(() => pageOffset(bad))).to.include({ field: 'offset' });
      expect(activeOnly(undefined)).to.equal(true);
      expect(activeOnly(false)).to.equal(false);
      expect(failure(() => activeOnly('false'))).to.include({ field: 'activeOnly' });
    });
  });

  describe('resolveUserPolicy', () => {
    it('merges overrides over the defaults', () => {
      expect(resolveUserPolicy()).to.deep.equal({ minLength: 8, maxBytes: 72, bcryptCost: 12 });
      expect(resolveUserPolicy({ bcryptCost: 10, minLength: undefined })).to.deep.equal({
        minLength: 8,
        maxBytes: 72,
        bcryptCost: 10,
      });
    });

    it('refuses values out of range, naming them', () => {
      expect(failure(() => resolveUserPolicy({ bcryptCost: 3 }))).to.include({ field: 'policy.bcryptCost' });
      expect(failure(() => resolveUserPolicy({ bcryptCost: 32 }))).to.include({ field: 'policy.bcryptCost' });
      expect(failure(() => resolveUserPolicy({ minLength: 0 }))).to.include({ field: 'policy.minLength' });
      expect(failure(() => resolveUserPolicy({ minLength: 80 }))).to.include({ field: 'policy.minLength' });
      expect(failure(() => resolveUserPolicy({ maxBytes: 1.5 }))).to.include({ field: 'policy.maxBytes' });
    });
  });
});
