/**
 * The ambient transaction: which transaction is active, per Database, in the current async
 * context. One AsyncLocalStorage holds an immutable snapshot of frames; entering a transaction
 * runs its callback with a new snapshot, so parallel callers never see each other's frames.
 * Internal to the transaction helper: the public face is currentTransaction() in current-transaction.ts.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Kysely, KyselyPlugin, Transaction } from 'kysely';
import type { SandboxState } from '../connection/sandbox-routing-driver.js';
import type { DatabaseContext } from '../database-context.js';
import { DatabaseError } from '../errors.js';
import type { IsolationLevel, TransactionHook } from './transaction-options.js';

export type { SandboxState };

/**
 * Identifies the Database behind a Kysely: its dialect adapter, which Kysely creates once per
 * `new Kysely(...)` (so once per createDatabase) and shares with every copy (withPlugin,
 * withSchema) and every transaction of it. Two Databases never share one.
 */
export type TransactionKey = object;

/** One transaction on one connection: an outermost one, or a 'requiresNew' one. */
export interface ConnectionTransaction {
  /** The Kysely it was started from (what a 'requiresNew' inside starts its own from). */
  readonly db: Kysely<unknown>;
  /** The plugins of the transaction's executor, to tell when a caller's Kysely has others. */
  readonly plugins: readonly KyselyPlugin[];
  /** Counters and logger of the Database, when it was made by createDatabase. */
  readonly context: DatabaseContext | undefined;
  /** Asked for at BEGIN; undefined means the server default. */
  readonly isolationLevel: IsolationLevel | undefined;
  readonly readOnly: boolean;
  /** Whether BEGIN ran and neither COMMIT nor ROLLBACK has yet. */
  active: boolean;
  /** Savepoints made so far (names are `kr_sp_<n>`). */
  savepoints: number;
  /** afterRollback hooks of savepoints that were rolled back: they run whatever the outcome. */
  readonly rolledBackHooks: TransactionHook[];
  /** The isolation level the server reported, once asked (when none was asked for at BEGIN). */
  serverIsolationLevel?: IsolationLevel;
  /** The test sandbox this transaction runs in (its own, or the one it was begun inside). */
  readonly sandbox?: SandboxState;
}

/** One withTransaction() call that runs a callback: outermost, requiresNew or savepoint. */
export interface Frame {
  readonly key: TransactionKey;
  readonly connection: ConnectionTransaction;
  /** The frame that was current for the same Database when this one was entered. */
  readonly parent: Frame | undefined;
  /** What the callback receives and currentTransaction() returns. */
  readonly trx: Transaction<unknown>;
  /** While the callback runs. */
  active: boolean;
  readonly commitHooks: TransactionHook[];
  readonly rollbackHooks: TransactionHook[];
  /** Set when a 'required' call that joined this frame failed: the frame can only roll back. */
  rollbackOnly: { readonly error: unknown } | undefined;
  /** Serializes savepoints made directly inside this frame (made with the first one). */
  tail: Promise<unknown> | undefined;
  /** Copies of `trx` with another Kysely's plugins, by that Kysely's plugin list (made with the first). */
  copies: WeakMap<readonly KyselyPlugin[], Transaction<unknown>> | undefined;
}

/** What the AsyncLocalStorage holds: never mutated, replaced on each enter(). */
interface Snapshot {
  readonly frames: ReadonlyMap<TransactionKey, Frame>;
  /** The frame entered last, of any Database: where afterCommit() registers. */
  readonly innermost: Frame;
}

const storage = new AsyncLocalStorage<Snapshot>();

/**
 * Sandbox frames that serve statements from every async context, by Database (mocha's sandbox
 * in its default shared mode: a server the test talks to runs its statements in the test's
 * sandbox). Empty outside test runs.
 */
const sharedFrames = new Map<TransactionKey, Frame>();

/** Makes `frame` (a sandbox's) the frame of `key` in every async context that has none. */
export function shareFrame(key: TransactionKey, frame: Frame): void {
  sharedFrames.set(key, frame);
}

/** Stops sharing `frame`, if it is still the one shared for `key`. */
export function unshareFrame(key: TransactionKey, frame: Frame): void {
  if (sharedFrames.get(key) === frame) sharedFrames.delete(key);
}

/** Whether a sandbox was ever opened in this process: until then nothing looks for one. */
let sandboxesOpened = false;

/** Marks the async context of a sandbox being opened: the connection it asks for becomes the sandbox's. */
const opening = new AsyncLocalStorage<true>();

/**
 * Runs `fn` (which begins a sandbox's transaction) so that the Database's driver makes the
 * connection it hands out a sandbox connection; from then on the driver looks for sandboxes.
 */
export function openingSandbox<T>(fn: () => Promise<T>): Promise<T> {
  sandboxesOpened = true;
  return opening.run(true, fn);
}

/** Whether the caller is opening a sandbox (see openingSandbox). */
export function isOpeningSandbox(): boolean {
  return sandboxesOpened && opening.getStore() === true;
}

/** Frames by the transaction object handed to their callback. */
const framesByTransaction = new WeakMap<object, Frame>();

/** The key of the Database behind `db` (see {@link TransactionKey}). */
export function transactionKey(db: Kysely<unknown>): TransactionKey {
  return db.getExecutor().adapter;
}

/** Creates a frame (not yet entered). */
export function createFrame(
  key: TransactionKey,
  connection: ConnectionTransaction,
  parent: Frame | undefined,
  trx: Transaction<unknown>,
): Frame {
  const frame: Frame = {
    key,
    connection,
    parent,
    trx,
    active: true,
    commitHooks: [],
    rollbackHooks: [],
    rollbackOnly: undefined,
    tail: undefined,
    copies: undefined,
  };
  framesByTransaction.set(trx, frame);
  return frame;
}

/** Runs `fn` with `frame` as the current frame of its Database (and the innermost of all). */
export function enter<T>(frame: Frame, fn: () => T): T {
  const previous = storage.getStore();
  const frames = new Map(previous?.frames);
  frames.set(frame.key, frame);
  return storage.run({ frames, innermost: frame }, fn);
}

/** The frame current for `key` in this async context, active or not. */
export function currentFrame(key: TransactionKey): Frame | undefined {
  const own = storage.getStore()?.frames.get(key);
  return own ?? (sharedFrames.size === 0 ? undefined : sharedFrames.get(key));
}

/**
 * The sandbox the statements of `key` run in from this async context, if any: what the driver
 * lends a plain statement. Free when no sandbox was ever opened.
 * @throws DatabaseError when that sandbox's test has ended.
 */
export function currentSandbox(key: TransactionKey): SandboxState | undefined {
  return sandboxesOpened ? liveFrame(key)?.connection.sandbox : undefined;
}

/**
 * The frame current for `key` (see currentFrame), refusing one of a test sandbox that has ended.
 * @throws DatabaseError when the sandbox's test has ended.
 */
function liveFrame(key: TransactionKey): Frame | undefined {
  const frame = currentFrame(key);
  const sandbox = frame?.connection.sandbox;
  if (sandbox?.ended) {
    throw new DatabaseError(
      `a statement was made after its test ended (${sandbox.label}): the test timed out or did not await ` +
        'everything it started. It was refused, so that nothing escapes the rollback of the test sandbox',
    );
  }
  return frame;
}

/** The nearest active frame from `frame` up its parents, optionally on one connection only. */
function nearestActive(frame: Frame | undefined, connection?: ConnectionTransaction): Frame | undefined {
  let candidate = frame;
  while (candidate && !(candidate.active && (connection === undefined || candidate.connection === connection))) {
    candidate = candidate.parent;
  }
  return candidate;
}

/**
 * The active frame a call on `db` belongs to: for a Kysely, the innermost active transaction of
 * its Database in this async context; for a Transaction, the innermost active one on that
 * Transaction's connection (even when a 'requiresNew' transaction is current).
 */
export function activeFrame(db: Kysely<unknown>, key: TransactionKey): Frame | undefined {
  const current = liveFrame(key);
  if (!db.isTransaction) return nearestActive(current);
  const own = framesByTransaction.get(db);
  if (own === undefined) return nearestActive(current);
  return nearestActive(current, own.connection) ?? nearestActive(own, own.connection);
}

/**
 * The innermost active frame of any Database in this async context (for afterCommit()); a test
 * sandbox's own transaction is not one the application began, so it does not count.
 */
export function innermostActiveFrame(): Frame | undefined {
  const frame = nearestActive(storage.getStore()?.innermost);
  return frame && isSandboxRoot(frame) ? undefined : frame;
}

/** Whether `frame` is a test sandbox's own transaction (not one the code under test began). */
export function isSandboxRoot(frame: Frame): boolean {
  return frame.parent === undefined && frame.connection.sandbox !== undefined;
}

/** Whether two plugin lists hold the same plugins in the same order. */
function samePlugins(a: readonly KyselyPlugin[], b: readonly KyselyPlugin[]): boolean {
  return a === b || (a.length === b.length && a.every((plugin, i) => plugin === b[i]));
}

/**
 * The frame's transaction as seen through `db`: the frame's own when `db` has the same plugins
 * (the usual case), else a copy with `db`'s plugins (a repository on `db.withSchema('x')` keeps
 * its schema inside the transaction).
 */
export function transactionFor(frame: Frame, db: Kysely<unknown>): Transaction<unknown> {
  const plugins = db.getExecutor().plugins;
  if (samePlugins(plugins, frame.connection.plugins)) return frame.trx;
  frame.copies ??= new WeakMap();
  let copy = frame.copies.get(plugins);
  if (copy === undefined) {
    copy = frame.trx.withoutPlugins();
    for (const plugin of plugins) copy = copy.withPlugin(plugin);
    frame.copies.set(plugins, copy);
  }
  return copy;
}

/** Connections held by active transactions in `frame`'s chain (the frame's own included). */
export function connectionsHeld(frame: Frame | undefined): number {
  const held = new Set<ConnectionTransaction>();
  for (let f = frame; f; f = f.parent) if (f.connection.active) held.add(f.connection);
  return held.size;
}
