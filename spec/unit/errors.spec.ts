import { expect } from 'chai';
import { inspect } from 'node:util';
import {
  CheckViolationError,
  ConfigError,
  ConnectionError,
  DatabaseError,
  DeadlockError,
  IntegrityConstraintViolationError,
  mapError,
  QueryTimeoutError,
  ReadOnlyTransactionError,
  SerializationError,
  TransactionRollbackError,
  TunnelError,
  UniqueViolationError,
} from '../../lib/index.js';

/** The shape pg gives a server error (pg-protocol's DatabaseError). */
function serverError(code: string, fields: Record<string, string> = {}): Error {
  return Object.assign(new Error(`server said ${code}`), { severity: 'ERROR', code, ...fields });
}

describe('mapError', () => {
  it('maps SQLSTATEs to their classes, and unknown ones of a known class to the class parent', () => {
    expect(mapError(serverError('40001')))
      .to.be.instanceOf(SerializationError)
      .and.instanceOf(TransactionRollbackError);
    expect(mapError(serverError('40P01'))).to.be.instanceOf(DeadlockError);
    expect(mapError(serverError('40002'))).to.be.instanceOf(TransactionRollbackError);
    expect(mapError(serverError('57014'))).to.be.instanceOf(QueryTimeoutError);
    expect(mapError(serverError('25006'))).to.be.instanceOf(ReadOnlyTransactionError);
    expect(mapError(serverError('23P01'))).to.be.instanceOf(IntegrityConstraintViolationError);
    expect(mapError(serverError('08006'))).to.be.instanceOf(ConnectionError);
    expect(mapError(serverError('57P01'))).to.be.instanceOf(ConnectionError);
    const other = mapError(serverError('42P01'));
    expect(other.constructor).to.equal(DatabaseError);
    expect(other.code).to.equal('42P01');
  });

  it('maps network failures and pg connection messages to ConnectionError, keeping the cause', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const mapped = mapError(refused);
    expect(mapped).to.be.instanceOf(ConnectionError);
    expect(mapped.cause).to.equal(refused);
    expect(mapError(new Error('Connection terminated unexpectedly'))).to.be.instanceOf(ConnectionError);
  });

  it('reads the key columns of a unique violation from its detail', () => {
    const simple = mapError(serverError('23505', { detail: 'Key (username)=(ada) already exists.' }));
    expect(simple).to.be.instanceOf(UniqueViolationError).and.include({ column: 'username' });
    const expression = mapError(serverError('23505', { detail: 'Key (lower(email::text))=(a@b.c) already exists.' }));
    expect((expression as UniqueViolationError).columns).to.deep.equal(['email']);
    const composite = mapError(serverError('23505', { detail: 'Key (a, b)=(1, 2) already exists.' }));
    expect((composite as UniqueViolationError).columns).to.deep.equal(['a', 'b']);
  });

  it("removes password hashes from the detail, the cause's included", () => {
    const hash = '$2b$12$abcdefghijklmnopqrstuuJ0ZJDkEwlsJYVHzyS1pHCX6wRMK0G/W';
    const mapped = mapError(serverError('23514', { detail: `Failing row contains (1, ada, ${hash}).` }));
    expect(mapped).to.be.instanceOf(CheckViolationError);
    expect(mapped.detail).not.to.contain(hash);
    expect(inspect(mapped, { depth: 5 })).not.to.contain(hash);
  });

  it('returns a DatabaseError unchanged, and wraps anything else without losing it', () => {
    const ours = new TunnelError('x');
    expect(mapError(ours)).to.equal(ours);
    const thrown = mapError('a string');
    expect(thrown).to.be.instanceOf(DatabaseError);
    expect(thrown.cause).to.equal('a string');
  });

  describe('failures to connect: ConnectionError with a hint naming the variable, never a value', () => {
    /** pg's own client-side SCRAM error, as its sasl module throws it. */
    async function pgScramError(password: unknown): Promise<Error> {
      // pg's internal module (untyped): the specifier is a value so the compiler does not look for types
      const specifier = 'pg/lib/crypto/sasl.js';
      const sasl = (await import(specifier)) as {
        default?: { startSession(m: string[]): unknown; continueSession(...a: unknown[]): Promise<void> };
        startSession(m: string[]): unknown;
        continueSession(...a: unknown[]): Promise<void>;
      };
      const api = sasl.default ?? sasl;
      const session = api.startSession(['SCRAM-SHA-256']);
      try {
        await api.continueSession(session, password, 'r=abc,s=c2FsdA==,i=4096');
      } catch (error) {
        return error as Error;
      }
      expect.fail('pg accepted the password');
    }

    it('28P01 (wrong password) and 28000 (refused role) are ConnectionError with a hint', () => {
      const wrong = mapError(serverError('28P01', { message: 'password authentication failed for user "app"' }));
      expect(wrong).to.be.instanceOf(ConnectionError).and.include({
        code: '28P01',
        hint: 'check the user name and password in DATABASE_URL',
      });
      expect(wrong.message).to.equal(
        'password authentication failed for user "app"; check the user name and password in DATABASE_URL',
      );
      const refused = mapError(serverError('28000'));
      expect(refused).to.be.instanceOf(ConnectionError);
      expect((refused as ConnectionError).hint)
        .to.contain('DATABASE_URL')
        .and.contain('pg_hba.conf');
    });

    it("pg's SCRAM errors (no password, an empty one) are ConnectionError saying a password is missing", async () => {
      for (const password of [undefined, '']) {
        const original = await pgScramError(password);
        expect(original.message).to.match(/^SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a/);
        const mapped = mapError(original);
        expect(mapped).to.be.instanceOf(ConnectionError);
        expect(mapped.message).to.equal(
          'the server asks for a password and none was given; put the password in DATABASE_URL (postgres://user:password@host/database)',
        );
        expect(mapped.cause).to.equal(original);
      }
      const mismatch = mapError(new Error('SASL: SCRAM-SERVER-FINAL-MESSAGE: server signature does not match'));
      expect(mismatch).to.be.instanceOf(ConnectionError);
      expect((mismatch as ConnectionError).hint).to.equal('check the user name and password in DATABASE_URL');
    });

    it('refused, unknown host and TLS failures name what to check', () => {
      const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5432'), {
        code: 'ECONNREFUSED',
        syscall: 'connect',
      });
      expect((mapError(refused) as ConnectionError).hint).to.equal(
        'check the host and port in DATABASE_URL, and that the server is running',
      );
      const unknown = Object.assign(new Error('getaddrinfo ENOTFOUND db.internal'), { code: 'ENOTFOUND' });
      expect(mapError(unknown).message).to.equal(
        'getaddrinfo ENOTFOUND db.internal; check the host name in DATABASE_URL',
      );
      const tls = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
      expect((mapError(tls) as ConnectionError).hint)
        .to.contain('sslmode')
        .and.contain('DATABASE_URL');
    });

    it('names the variable it is told (a replica pool: DATABASE_REPLICA_URLS)', () => {
      const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.2:5432'), { code: 'ECONNREFUSED' });
      const mapped = mapError(refused, { variable: 'DATABASE_REPLICA_URLS' }) as ConnectionError;
      expect(mapped.hint).to.contain('DATABASE_REPLICA_URLS').and.not.contain('DATABASE_URL ');
    });

    it("an AggregateError without a message (localhost's two addresses) reads as its attempts", () => {
      const attempts = [
        Object.assign(new Error('connect ECONNREFUSED ::1:1'), { code: 'ECONNREFUSED' }),
        Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      ];
      const aggregate = Object.assign(new AggregateError(attempts, ''), { code: 'ECONNREFUSED' });
      const mapped = mapError(aggregate);
      expect(mapped).to.be.instanceOf(ConnectionError);
      expect(mapped.message).to.match(
        /^connect ECONNREFUSED ::1:1; connect ECONNREFUSED 127\.0\.0\.1:1; check the host/,
      );
    });

    it('a connection dropped mid-session has no hint (nothing in the configuration to check)', () => {
      const dropped = mapError(serverError('57P01'));
      expect(dropped).to.be.instanceOf(ConnectionError);
      expect(Object.prototype.hasOwnProperty.call(dropped, 'hint')).to.equal(false);
      const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' });
      expect((mapError(reset) as ConnectionError).hint).to.equal(undefined);
    });

    it('never throws, whatever the options', () => {
      const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      const hostile = new Proxy(
        {},
        {
          get() {
            throw new Error('no');
          },
        },
      );
      expect(mapError(refused, hostile)).to.be.instanceOf(ConnectionError);
      expect(mapError(refused, null as never)).to.be.instanceOf(ConnectionError);
    });
  });

  describe('inspecting an error', () => {
    it('shows only the fields that are known: no `code: undefined, constraint: undefined`', () => {
      const config = new ConfigError('DB_POOL_SIZE', 'DB_POOL_SIZE="0" is not allowed', 'an integer from 1 to 100');
      const shown = inspect(config);
      expect(shown).not.to.contain('undefined');
      expect(Object.keys(config)).to.deep.equal(['name', 'variable', 'allowed']);
      expect(config.code).to.equal(undefined);
      const unique = mapError(serverError('23505', { constraint: 'users_pkey', table: 'users' }));
      expect(unique).to.include({ code: '23505', constraint: 'users_pkey', table: 'users' });
      expect(inspect(unique)).not.to.match(/column: undefined|detail: undefined/);
    });
  });
});
