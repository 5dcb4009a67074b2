/** Small helpers the specs share. */
import { expect } from 'chai';
import pg from 'pg';
import type sinon from 'sinon';
import { ValidationError } from '../../lib/errors.js';

/** A Logger (the package's interface) whose every level is a sinon spy. */
export type SpyLogger = Record<'error' | 'warn' | 'info' | 'debug', sinon.SinonSpy>;

/** A Logger of spies from `sandbox` (or sinon itself), for specs that check what was logged. */
export function spyLogger(sandbox: Pick<sinon.SinonSandbox, 'spy'>): SpyLogger {
  return { error: sandbox.spy(), warn: sandbox.spy(), info: sandbox.spy(), debug: sandbox.spy() };
}

/** The error `promise` rejects with; fails the spec when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  expect.fail('expected the promise to reject');
}

/** The ValidationError `promise` rejects with, checked to name `field` (and `rule`, when given). */
export async function expectValidation(
  promise: Promise<unknown>,
  field: string,
  rule?: string,
): Promise<ValidationError> {
  const error = await rejection(promise);
  expect(error, error.message).to.be.instanceOf(ValidationError);
  expect((error as ValidationError).field).to.equal(field);
  if (rule !== undefined) expect((error as ValidationError).rule).to.equal(rule);
  return error as ValidationError;
}

/** Runs one statement on its own connection to `url` (behind the back of any Database). */
export async function queryServer<R extends pg.QueryResultRow>(
  url: string,
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Every node of an EXPLAIN (FORMAT JSON) plan, as `Node Type` or `Node Type using Index Name`. */
export function planNodes(explained: unknown): string[] {
  const nodes: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (typeof node !== 'object' || node === null) return;
    const record = node as Record<string, unknown>;
    const type = record['Node Type'];
    const index = record['Index Name'];
    if (typeof type === 'string') nodes.push(typeof index === 'string' ? `${type} using ${index}` : type);
    for (const value of Object.values(record)) walk(value);
  };
  walk(explained);
  return nodes;
}
