import { expect } from 'chai';
import { inspect } from 'node:util';
import {
  CheckViolationError,
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
});
