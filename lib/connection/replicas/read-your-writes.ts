/**
 * Read-your-writes: once a unit of work has written through a Database, its reads go to the
 * primary, so it never reads a replica that has not replayed its own write yet.
 *
 * The unit of work is an AsyncLocalStorage scope opened by {@link withReadYourWrites}: the
 * function it runs, everything that function awaits, and every callback or promise chain started
 * inside it. A write marks the scope (a mutable entry in the scope's store), so a read anywhere
 * later in the same scope sees it — also in a caller that awaited the function that wrote.
 * AsyncLocalStorage can only pass a value down to work started after it was set, never back up
 * to a caller that is already waiting, so a marker must live in a scope opened before the write;
 * this module therefore never opens one implicitly (`enterWith` would attach it to whatever
 * long-lived resource happened to be current — a server socket, a timer — and pin every later
 * read there to the primary).
 *
 * Writes outside any scope are tracked per Database instead: for a bounded window after one, reads
 * outside any scope go to the primary (reads inside a scope only look at their own scope).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { CompiledQuery } from 'kysely';
import { requireFunction } from '../../arguments.js';
import { isWriteStatement } from './write-statement.js';

/** What one scope holds: per Database (its tracker), when the scope last wrote through it. */
interface Scope {
  readonly writes: WeakMap<ReadYourWrites, number>;
}

const storage = new AsyncLocalStorage<Scope>();

/**
 * How long reads outside any scope go to the primary after a write outside any scope, when
 * DB_READ_YOUR_WRITES_MS is not set. Two seconds, the delay Rails' database selector uses.
 */
export const UNSCOPED_READ_YOUR_WRITES_MS = 2_000;

/**
 * Runs `fn` as one unit of work for read-your-writes: after it writes through a Database, its
 * reads through that Database's repositories go to the primary for the rest of the scope (or for
 * DB_READ_YOUR_WRITES_MS, when set). Open one per request, job or message, e.g. as the first
 * middleware. Inside a scope already open, `fn` simply runs in it (a write inside is visible to
 * the enclosing scope too). Scopes never see each other's writes.
 *
 * @example
 * app.use((req, res, next) => withReadYourWrites(next));
 * // or around any unit of work:
 * await withReadYourWrites(async () => {
 *   const user = await users.createUser(input); // primary
 *   return users.getUserById(user.id);           // primary too: this scope wrote
 * });
 * @throws whatever `fn` throws; ValidationError when `fn` is not a function.
 */
export function withReadYourWrites<T>(fn: () => T): T {
  requireFunction(fn, 'fn');
  if (storage.getStore() !== undefined) return fn();
  return storage.run({ writes: new WeakMap() }, fn);
}

/** Options of ReadYourWrites. */
export interface ReadYourWritesOptions {
  /** DB_READ_YOUR_WRITES_MS: how long after a write a scope's reads stay on the primary; undefined = the rest of the scope. */
  readonly windowMs: number | undefined;
  /** The same for writes and reads outside any scope. (Default: windowMs, else {@link UNSCOPED_READ_YOUR_WRITES_MS}) */
  readonly unscopedWindowMs?: number;
}

/**
 * One Database's read-your-writes tracker: the router marks writes and asks, before each read,
 * whether the current scope must read from the primary.
 *
 * @example
 * const tracker = new ReadYourWrites({ windowMs: undefined });
 * await withReadYourWrites(async () => {
 *   tracker.markWrite();
 *   tracker.primaryRequired(); // true
 * });
 */
export class ReadYourWrites {
  readonly windowMs: number | undefined;
  readonly unscopedWindowMs: number;
  #unscopedWriteAt: number | undefined;

  constructor(options: ReadYourWritesOptions) {
    this.windowMs = options.windowMs;
    this.unscopedWindowMs = options.unscopedWindowMs ?? options.windowMs ?? UNSCOPED_READ_YOUR_WRITES_MS;
  }

  /** Records that the current scope (or, outside any, this Database) has just written. @throws never. */
  markWrite(): void {
    const now = performance.now();
    const scope = storage.getStore();
    if (scope === undefined) this.#unscopedWriteAt = now;
    else scope.writes.set(this, now);
  }

  /** Marks a write when `query` may have changed data (see isWriteStatement). @throws never. */
  noteStatement(query: CompiledQuery): void {
    if (isWriteStatement(query)) this.markWrite();
  }

  /** Whether a read in the current async context must go to the primary. @throws never. */
  primaryRequired(): boolean {
    const scope = storage.getStore();
    const at = scope === undefined ? this.#unscopedWriteAt : scope.writes.get(this);
    if (at === undefined) return false;
    const windowMs = scope === undefined ? this.unscopedWindowMs : this.windowMs;
    return windowMs === undefined || performance.now() - at < windowMs;
  }
}
