/**
 * The load driver: N concurrent clients, each looping over a weighted mix of UserRepository
 * calls (creates, reads, lookups, updates, soft deletes and restores, listings, keyset pages,
 * counts, password checks and changes, transactions, and deliberate username conflicts) until
 * stopped. Every write goes into the Ledger; every answer that contradicts the ledger (a read
 * that does not show the last acknowledged write, a duplicate username accepted, a page that
 * repeats a row) is a violation. A watchdog flags any call that stays unsettled too long.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import {
  ConflictError,
  ConnectionError,
  DatabaseError,
  withTransaction,
  type DB,
  type User,
  type UserRepository,
} from '../../../lib/index.js';
import type { Ledger, LedgerUser, UserState } from './ledger.js';

/** The kinds of call the clients make. */
export type OpKind =
  | 'create'
  | 'read'
  | 'lookup'
  | 'update'
  | 'toggle'
  | 'list'
  | 'page'
  | 'count'
  | 'verify'
  | 'password'
  | 'transaction'
  | 'conflict'
  | 'race';

/** The mix, in percent. */
const WEIGHTS: readonly (readonly [OpKind, number])[] = [
  ['create', 14],
  ['read', 16],
  ['lookup', 6],
  ['update', 13],
  ['toggle', 5],
  ['list', 6],
  ['page', 5],
  ['count', 3],
  ['verify', 8],
  ['password', 4],
  ['transaction', 10],
  ['conflict', 5],
  ['race', 5],
];
const TOTAL_WEIGHT = WEIGHTS.reduce((sum, [, w]) => sum + w, 0);

/** One call, while it runs and (when it failed, or was in flight at a fault) afterwards. */
export interface OpRecord {
  readonly kind: OpKind;
  readonly client: number;
  /** performance.now() when it started. */
  readonly startedAt: number;
  /** performance.now() when it settled; undefined while in flight. */
  endedAt: number | undefined;
  /** The error's class name (`untyped:<name>` for anything that is not a DatabaseError); undefined on success. */
  error: string | undefined;
  message: string | undefined;
  /** The error is a ConnectionError (TunnelError included). */
  connection: boolean;
  /** The error was the expected answer: the ConflictError of a conflict or a race. */
  expected: boolean;
}

/** Options of LoadDriver. */
export interface LoadDriverOptions {
  /** Concurrent clients. */
  readonly clients: number;
  readonly users: UserRepository;
  /** The Database's Kysely, for withTransaction. */
  readonly db: Kysely<DB>;
  readonly ledger: Ledger;
  /** Prefix of every username this driver makes: unique per run, a few lowercase letters and digits. */
  readonly prefix: string;
  /** A client's pause after a ConnectionError or PoolTimeoutError (jittered ±50%), as an app backs off. (Default: 100) */
  readonly backoffMs?: number;
  /** A call unsettled after this long is a hang. (Default: 15000) */
  readonly hangMs?: number;
}

interface ClientState {
  readonly index: number;
  /** Users this client created and may still write (not retired). */
  readonly owned: LedgerUser[];
  names: number;
}

type Outcome = 'conflict' | undefined;

const MAX_KEPT_VIOLATIONS = 50;

/**
 * Runs the load. `start()`, then `stop()`; in between `inFlight()` snapshots the calls running
 * now (for a fault's settle bound) and `successAfter(t)` waits for service to come back.
 *
 * @example
 * const driver = new LoadDriver({ clients: 200, users, db: database.db, ledger, prefix: 'ld1' });
 * driver.start();
 * await sleep(20_000);
 * const hung = await driver.stop(15_000);
 */
export class LoadDriver {
  /** Every call that failed (expected conflicts included), in order of settling. */
  readonly errors: OpRecord[] = [];
  /** Answers that contradict the ledger (at most 50 kept; `violationCount` counts all). */
  readonly violations: string[] = [];
  /** Calls the watchdog found unsettled after hangMs. */
  readonly hangs: OpRecord[] = [];
  /** Calls made, by kind. */
  readonly opsByKind = new Map<OpKind, number>();
  #operations = 0;
  #succeeded = 0;
  #violationCount = 0;
  #stopping = false;
  #startedAt = 0;
  #stoppedAt = 0;
  readonly #inFlight = new Set<OpRecord>();
  readonly #loops: Promise<void>[] = [];
  readonly #successWaiters: { after: number; resolve: (at: number) => void }[] = [];
  #watchdog: NodeJS.Timeout | undefined;
  readonly #options: Required<LoadDriverOptions>;

  constructor(options: LoadDriverOptions) {
    this.#options = { backoffMs: 100, hangMs: 15_000, ...options };
  }

  /** Calls made so far. */
  get operations(): number {
    return this.#operations;
  }

  /** Calls that succeeded so far. */
  get succeeded(): number {
    return this.#succeeded;
  }

  /** Expected conflicts (ConflictError answers to conflicts and races). */
  get expectedConflicts(): number {
    return this.errors.filter((r) => r.expected).length;
  }

  /** Violations found so far (all of them, not only the ones kept). */
  get violationCount(): number {
    return this.#violationCount;
  }

  /** Seconds between start() and stop() (or now). */
  get seconds(): number {
    const end = this.#stoppedAt || performance.now();
    return (end - this.#startedAt) / 1000;
  }

  /** Errors by class name; expected conflicts under `ConflictError (expected)`. */
  errorsByClass(filter: (record: OpRecord) => boolean = () => true): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const record of this.errors) {
      if (!filter(record)) continue;
      const key = record.expected ? `${record.error ?? '?'} (expected)` : (record.error ?? '?');
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }

  /** Starts the clients. */
  start(): void {
    this.#startedAt = performance.now();
    for (let i = 0; i < this.#options.clients; i++) this.#loops.push(this.#client(i));
    this.#watchdog = setInterval(() => this.#watch(), 250);
    this.#watchdog.unref();
  }

  /** The calls running now. */
  inFlight(): OpRecord[] {
    return [...this.#inFlight];
  }

  /**
   * Resolves with the time (performance.now()) at which the first call that started at or after
   * `after` succeeded, or undefined when none did within `boundMs`.
   */
  async successAfter(after: number, boundMs: number): Promise<number | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), boundMs);
    });
    const success = new Promise<number>((resolve) => this.#successWaiters.push({ after, resolve }));
    try {
      return await Promise.race([success, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Tells the clients to stop after their current call and waits up to `boundMs` for them.
   * Returns the calls still unsettled then (empty when everything settled).
   */
  async stop(boundMs: number): Promise<OpRecord[]> {
    this.#stopping = true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), boundMs);
    });
    await Promise.race([Promise.all(this.#loops), timeout]);
    clearTimeout(timer);
    clearInterval(this.#watchdog);
    this.#stoppedAt = performance.now();
    return this.inFlight();
  }

  // ---- the clients -----------------------------------------------------------------------

  async #client(index: number): Promise<void> {
    const state: ClientState = { index, owned: [], names: 0 };
    // spread the first calls over a few milliseconds, as real clients arrive
    await sleep(Math.random() * 50);
    while (!this.#stopping) {
      const record = await this.#run(this.#pick(), state);
      if (record.connection || record.error === 'PoolTimeoutError') {
        await sleep(this.#options.backoffMs * (0.5 + Math.random()));
      }
    }
  }

  #pick(): OpKind {
    let roll = Math.random() * TOTAL_WEIGHT;
    for (const [kind, weight] of WEIGHTS) {
      roll -= weight;
      if (roll < 0) return kind;
    }
    return 'read';
  }

  async #run(kind: OpKind, state: ClientState): Promise<OpRecord> {
    const record: OpRecord = {
      kind,
      client: state.index,
      startedAt: performance.now(),
      endedAt: undefined,
      error: undefined,
      message: undefined,
      connection: false,
      expected: false,
    };
    this.#operations++;
    this.opsByKind.set(kind, (this.opsByKind.get(kind) ?? 0) + 1);
    this.#inFlight.add(record);
    try {
      const outcome = await this.#op(kind, state);
      if (outcome === 'conflict') {
        record.error = 'ConflictError';
        record.expected = true;
      }
    } catch (error) {
      record.error =
        error instanceof DatabaseError
          ? error.name
          : `untyped:${error instanceof Error ? error.constructor.name : typeof error}`;
      record.message = error instanceof Error ? error.message : String(error);
      record.connection = error instanceof ConnectionError;
    } finally {
      record.endedAt = performance.now();
      this.#inFlight.delete(record);
    }
    if (record.error === undefined || record.expected) this.#success(record);
    if (record.error !== undefined) this.errors.push(record);
    return record;
  }

  #success(record: OpRecord): void {
    this.#succeeded++;
    for (let i = this.#successWaiters.length - 1; i >= 0; i--) {
      const waiter = this.#successWaiters[i]!;
      if (record.startedAt >= waiter.after) {
        this.#successWaiters.splice(i, 1);
        waiter.resolve(record.endedAt ?? performance.now());
      }
    }
  }

  #watch(): void {
    const now = performance.now();
    for (const record of this.#inFlight) {
      if (now - record.startedAt > this.#options.hangMs && !this.hangs.includes(record)) this.hangs.push(record);
    }
  }

  #violation(message: string): void {
    this.#violationCount++;
    if (this.violations.length < MAX_KEPT_VIOLATIONS) this.violations.push(message);
  }

  #name(state: ClientState): string {
    return `${this.#options.prefix}c${state.index}n${state.names++}`;
  }

  #owned(state: ClientState, filter: (user: LedgerUser) => boolean = () => true): LedgerUser | undefined {
    const candidates = state.owned.filter(filter);
    return candidates[Math.floor(Math.random() * candidates.length)];
  }

  /** A write of `user` failed: it may have landed; the user is never written again. */
  #retire(state: ClientState, user: LedgerUser, attempted: UserState): void {
    this.#options.ledger.changeFailed(user, attempted);
    const at = state.owned.indexOf(user);
    if (at >= 0) state.owned.splice(at, 1);
  }

  async #op(kind: OpKind, state: ClientState): Promise<Outcome> {
    const user = this.#owned(state);
    switch (kind) {
      case 'create':
        return this.#create(state);
      case 'read':
        return user ? this.#read(user) : this.#create(state);
      case 'lookup':
        return user ? this.#lookup(user) : this.#create(state);
      case 'update':
        return user ? this.#update(state, user) : this.#create(state);
      case 'toggle':
        return user ? this.#toggle(state, user) : this.#create(state);
      case 'list':
        return this.#list();
      case 'page':
        return this.#page();
      case 'count':
        return this.#count();
      case 'verify':
        return user ? this.#verify(user) : this.#create(state);
      case 'password': {
        const active = this.#owned(state, (u) => u.acked.isActive);
        return active ? this.#password(state, active) : this.#create(state);
      }
      case 'transaction':
        return this.#transaction(state, user);
      case 'conflict':
        return this.#conflict(state);
      case 'race':
        return this.#race(state);
    }
  }

  async #create(state: ClientState): Promise<Outcome> {
    const { users, ledger } = this.#options;
    const username = this.#name(state);
    const wanted: UserState = { email: `${username}@example.com`, isActive: true, password: `pw-${username}` };
    ledger.attemptCreate(username);
    let user: User;
    try {
      user = await users.createUser({ username, email: wanted.email, password: wanted.password });
    } catch (error) {
      ledger.createFailed(username);
      throw error;
    }
    state.owned.push(ledger.created(user.id, username, wanted));
    if (user.username !== username || user.email !== wanted.email || !user.isActive) {
      this.#violation(`createUser(${username}) returned ${JSON.stringify(user)}`);
    }
    return undefined;
  }

  async #read(user: LedgerUser): Promise<Outcome> {
    const got = await this.#options.users.getUserById(user.id);
    if (
      got?.username !== user.username ||
      got.email !== user.acked.email ||
      got.isActive !== user.acked.isActive ||
      'passwordHash' in got
    ) {
      this.#violation(
        `getUserById(${user.id}) returned ${JSON.stringify(got)}; acknowledged ${user.acked.email} active=${user.acked.isActive}`,
      );
    }
    return undefined;
  }

  async #lookup(user: LedgerUser): Promise<Outcome> {
    const { users } = this.#options;
    const byName = Math.random() < 0.5;
    const got = byName
      ? await users.getUserByUsername(user.username)
      : await users.getUserByEmail(` ${user.acked.email.toUpperCase()} `);
    if (got?.id !== user.id || got.email !== user.acked.email) {
      this.#violation(
        `${byName ? 'getUserByUsername' : 'getUserByEmail'} for ${user.id} returned ${JSON.stringify(got)}`,
      );
    }
    return undefined;
  }

  async #update(state: ClientState, user: LedgerUser): Promise<Outcome> {
    const next: UserState = { ...user.acked, email: `${user.username}.v${++user.version}@example.com` };
    let got: User | undefined;
    try {
      got = await this.#options.users.updateUser(user.id, { email: next.email });
    } catch (error) {
      this.#retire(state, user, next);
      throw error;
    }
    this.#options.ledger.changed(user, next);
    if (got?.email !== next.email) this.#violation(`updateUser(${user.id}) returned ${JSON.stringify(got)}`);
    return undefined;
  }

  async #toggle(state: ClientState, user: LedgerUser): Promise<Outcome> {
    const { users, ledger } = this.#options;
    const next: UserState = { ...user.acked, isActive: !user.acked.isActive };
    let changed: boolean;
    try {
      changed = user.acked.isActive ? await users.deleteUser(user.id) : await users.restoreUser(user.id);
    } catch (error) {
      this.#retire(state, user, next);
      throw error;
    }
    ledger.changed(user, next);
    if (!changed) this.#violation(`${next.isActive ? 'restoreUser' : 'deleteUser'}(${user.id}) returned false`);
    return undefined;
  }

  async #list(): Promise<Outcome> {
    const rows = await this.#options.users.listUsers({ limit: 20, activeOnly: Math.random() < 0.7 });
    if (rows.length > 20) this.#violation(`listUsers({ limit: 20 }) returned ${rows.length} rows`);
    for (let i = 1; i < rows.length; i++) {
      if (rows[i]!.createdAt.getTime() > rows[i - 1]!.createdAt.getTime()) {
        this.#violation('listUsers returned rows out of order (newest first)');
        break;
      }
    }
    if (rows.some((row) => 'passwordHash' in row)) this.#violation('listUsers returned a password hash');
    return undefined;
  }

  async #page(): Promise<Outcome> {
    const { users } = this.#options;
    const first = await users.listUsersPage({ limit: 10 });
    if (first.items.length > 10) this.#violation(`listUsersPage({ limit: 10 }) returned ${first.items.length} rows`);
    if (first.nextCursor === null) return undefined;
    const second = await users.listUsersPage({ limit: 10, cursor: first.nextCursor });
    const seen = new Set(first.items.map((u) => u.id));
    const repeated = second.items.filter((u) => seen.has(u.id));
    if (repeated.length > 0) this.#violation(`listUsersPage repeated ${repeated.length} rows on the next page`);
    return undefined;
  }

  async #count(): Promise<Outcome> {
    const n = await this.#options.users.countUsers({ activeOnly: Math.random() < 0.5 });
    if (!Number.isInteger(n) || n < 0) this.#violation(`countUsers returned ${n}`);
    return undefined;
  }

  async #verify(user: LedgerUser): Promise<Outcome> {
    const { users } = this.#options;
    const wrong = Math.random() < 0.2;
    const got = await users.verifyPassword(user.username, wrong ? `${user.acked.password}!` : user.acked.password);
    const shouldPass = !wrong && user.acked.isActive;
    if (shouldPass ? got?.id !== user.id : got !== undefined) {
      this.#violation(
        `verifyPassword(${user.username}, ${wrong ? 'wrong' : 'right'} password, active=${user.acked.isActive}) ` +
          `returned ${got ? 'a user' : 'undefined'}`,
      );
    }
    return undefined;
  }

  async #password(state: ClientState, user: LedgerUser): Promise<Outcome> {
    const next: UserState = { ...user.acked, password: `pw2-${user.username}-${++user.version}` };
    let changed: boolean;
    try {
      changed = await this.#options.users.changePassword(user.id, user.acked.password, next.password);
    } catch (error) {
      this.#retire(state, user, next);
      throw error;
    }
    if (changed) this.#options.ledger.changed(user, next, true);
    else this.#violation(`changePassword(${user.id}) with the acknowledged password returned false`);
    return undefined;
  }

  async #transaction(state: ClientState, target: LedgerUser | undefined): Promise<Outcome> {
    const { users, ledger, db } = this.#options;
    const names = [this.#name(state), this.#name(state)];
    for (const name of names) ledger.attemptCreate(name);
    const next: UserState | undefined = target && {
      ...target.acked,
      email: `${target.username}.v${++target.version}@example.com`,
    };
    let result: { created: User[]; updated: User | undefined };
    try {
      result = await withTransaction(db, async () => {
        const created: User[] = [];
        for (const name of names) {
          created.push(
            await users.createUser({ username: name, email: `${name}@example.com`, password: `pw-${name}` }),
          );
        }
        const updated = target && next ? await users.updateUser(target.id, { email: next.email }) : undefined;
        return { created, updated };
      });
    } catch (error) {
      for (const name of names) ledger.createFailed(name);
      ledger.transaction(names, false);
      if (target && next) this.#retire(state, target, next);
      throw error;
    }
    ledger.transaction(names, true);
    for (const user of result.created) {
      state.owned.push(
        ledger.created(user.id, user.username, {
          email: user.email,
          isActive: true,
          password: `pw-${user.username}`,
        }),
      );
    }
    if (target && next) {
      ledger.changed(target, next);
      if (result.updated?.email !== next.email) {
        this.#violation(`updateUser(${target.id}) in a transaction returned ${JSON.stringify(result.updated)}`);
      }
    }
    return undefined;
  }

  async #conflict(state: ClientState): Promise<Outcome> {
    const { users, ledger } = this.#options;
    const taken = ledger.randomUsername();
    if (taken === undefined) return this.#create(state);
    const email = `${this.#name(state)}@example.com`;
    try {
      const user = await users.createUser({ username: taken, email, password: 'conflicting-password' });
      this.#violation(`createUser accepted the taken username ${taken} (new id ${user.id})`);
      return undefined;
    } catch (error) {
      if (error instanceof ConflictError && error.field === 'username') return 'conflict';
      throw error;
    }
  }

  async #race(state: ClientState): Promise<Outcome> {
    const { users, ledger } = this.#options;
    const username = this.#name(state);
    const password = `pw-${username}`;
    ledger.attemptCreate(username);
    const settled = await Promise.allSettled(
      ['a', 'b'].map((side) => users.createUser({ username, email: `${username}.${side}@example.com`, password })),
    );
    const winners = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
    const conflicts = failures.filter((e) => e instanceof ConflictError);
    const others = failures.filter((e) => !(e instanceof ConflictError));
    if (winners.length === 2) this.#violation(`two concurrent createUser(${username}) both succeeded`);
    const winner = winners[0];
    if (winner) {
      state.owned.push(ledger.created(winner.id, username, { email: winner.email, isActive: true, password }));
    } else {
      ledger.createFailed(username);
      if (conflicts.length === 2) this.#violation(`two concurrent createUser(${username}) both got ConflictError`);
    }
    if (others.length > 0) throw others[0];
    return conflicts.length > 0 ? 'conflict' : undefined;
  }
}
