/**
 * The ledger of acknowledged writes: every user write that resolved is recorded with the value it
 * wrote; every write that failed is recorded as unconfirmed (it may or may not have landed: the
 * connection can drop after COMMIT reached the server). Afterwards the ledger is compared with
 * the table, read straight from PostgreSQL: each acknowledged write must be there with its last
 * acknowledged value (lost writes: 0), no row may appear that nobody tried to write, and every
 * transaction is all or nothing.
 *
 * To keep "last acknowledged value" exact, each user is written by one load client only, one
 * write at a time; after a write of it fails, the user is retired (never written again), so the
 * row may hold either the last acknowledged state or the failed write's.
 */

/** The fields of a user the load writes. */
export interface UserState {
  readonly email: string;
  readonly isActive: boolean;
  readonly password: string;
}

/** One user the ledger knows was created (its create was acknowledged). */
export interface LedgerUser {
  readonly id: string;
  readonly username: string;
  /** The last acknowledged state. */
  acked: UserState;
  /** States of writes that failed after the last acknowledged one (at most one: the user is then retired). */
  readonly unconfirmed: UserState[];
  /** No more writes: a write of it failed. */
  retired: boolean;
  /** Whether a password change was acknowledged (then the stored hash is checked too). */
  passwordChanged: boolean;
  /** How many times its email was changed (for unique new values). */
  version: number;
}

/** A users row as read from PostgreSQL. */
export interface StoredUser {
  readonly id: string;
  readonly username: string;
  readonly email: string;
  readonly isActive: boolean;
  readonly passwordHash: string;
}

/** What comparing the ledger with the table found. */
export interface LedgerReport {
  /** Writes that resolved (creates, updates, deletes, restores, password changes; each statement of a committed transaction). */
  readonly acknowledgedWrites: number;
  /** Writes that failed: each may or may not have landed. */
  readonly unconfirmedWrites: number;
  /** Failed creates whose row is in the table nonetheless (the commit got through, the answer did not). */
  readonly unconfirmedCreatesLanded: number;
  /** Acknowledged writes missing from the table or overwritten by something never acknowledged. */
  readonly lostWrites: readonly string[];
  /** Rows no create ever asked for. */
  readonly phantomRows: readonly string[];
  /** Transactions that left some but not all of their rows. */
  readonly brokenTransactions: readonly string[];
  /** Users compared. */
  readonly usersChecked: number;
  /** Stored password hashes checked against the acknowledged password. */
  readonly passwordsChecked: number;
}

interface Batch {
  readonly usernames: readonly string[];
  readonly acknowledged: boolean;
}

function sameState(row: StoredUser, state: UserState): boolean {
  return row.email === state.email && row.isActive === state.isActive;
}

/**
 * Records acknowledged and unconfirmed writes and compares them with the table.
 *
 * @example
 * const ledger = new Ledger();
 * ledger.attemptCreate('ann');
 * const user = ledger.created(row.id, 'ann', { email: 'ann@example.com', isActive: true, password: 'pw' });
 * const report = await ledger.verify(await readUsers(), (password, hash) => bcrypt.compare(password, hash));
 */
export class Ledger {
  readonly #users = new Map<string, LedgerUser>();
  readonly #usernames: string[] = [];
  readonly #attempted = new Set<string>();
  readonly #failedCreates = new Set<string>();
  readonly #batches: Batch[] = [];
  #acknowledged = 0;
  #unconfirmed = 0;

  /** Writes acknowledged so far. */
  get acknowledgedWrites(): number {
    return this.#acknowledged;
  }

  /** Writes that failed so far. */
  get unconfirmedWrites(): number {
    return this.#unconfirmed;
  }

  /** Users whose create was acknowledged. */
  get size(): number {
    return this.#users.size;
  }

  /** Notes that a create of `username` is about to be sent (so its row, if any, is explained). */
  attemptCreate(username: string): void {
    this.#attempted.add(username);
  }

  /** An acknowledged create. Returns the ledger's user, for the client that owns it. */
  created(id: string, username: string, state: UserState): LedgerUser {
    const user: LedgerUser = {
      id,
      username,
      acked: state,
      unconfirmed: [],
      retired: false,
      passwordChanged: false,
      version: 0,
    };
    this.#users.set(id, user);
    this.#usernames.push(username);
    this.#acknowledged++;
    return user;
  }

  /** A create that failed: its row may or may not exist. */
  createFailed(username: string): void {
    this.#failedCreates.add(username);
    this.#unconfirmed++;
  }

  /** An acknowledged change of `user` to `state`. */
  changed(user: LedgerUser, state: UserState, passwordChanged = false): void {
    user.acked = state;
    if (passwordChanged) user.passwordChanged = true;
    this.#acknowledged++;
  }

  /** A change of `user` to `state` that failed: it may or may not have landed. The user is retired. */
  changeFailed(user: LedgerUser, state: UserState): void {
    user.unconfirmed.push(state);
    user.retired = true;
    this.#unconfirmed++;
  }

  /** A transaction that created `usernames`: acknowledged (committed) or not. */
  transaction(usernames: readonly string[], acknowledged: boolean): void {
    this.#batches.push({ usernames, acknowledged });
  }

  /** The username of a random acknowledged user (to provoke a conflict), or undefined when there is none. */
  randomUsername(random: () => number = Math.random): string | undefined {
    if (this.#usernames.length === 0) return undefined;
    return this.#usernames[Math.floor(random() * this.#usernames.length)];
  }

  /**
   * Compares the ledger with `rows` (every row of the table). `passwordMatches` checks a stored
   * hash against a password: for every user whose password was changed or whose last write is
   * unconfirmed, and for `passwordSample` others picked at random (all of them when there are
   * fewer), `concurrency` at a time.
   */
  async verify(
    rows: readonly StoredUser[],
    passwordMatches: (password: string, hash: string) => Promise<boolean>,
    passwordSample = 2_000,
    concurrency = 16,
  ): Promise<LedgerReport> {
    const byId = new Map(rows.map((row) => [row.id, row]));
    const byUsername = new Map(rows.map((row) => [row.username, row]));
    const lost: string[] = [];
    const toCheck: { user: LedgerUser; row: StoredUser }[] = [];
    const others: { user: LedgerUser; row: StoredUser }[] = [];
    for (const user of this.#users.values()) {
      const row = byId.get(user.id);
      if (!row) {
        lost.push(`user ${user.id} (${user.username}): acknowledged create, no row`);
        continue;
      }
      if (row.username !== user.username) {
        lost.push(`user ${user.id}: username ${JSON.stringify(row.username)}, acknowledged ${user.username}`);
        continue;
      }
      if (![user.acked, ...user.unconfirmed].some((state) => sameState(row, state))) {
        lost.push(
          `user ${user.id} (${user.username}): stored ${row.email} active=${row.isActive}, ` +
            `acknowledged ${user.acked.email} active=${user.acked.isActive}`,
        );
        continue;
      }
      (user.passwordChanged || user.unconfirmed.length > 0 ? toCheck : others).push({ user, row });
    }
    for (let i = others.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [others[i], others[j]] = [others[j]!, others[i]!];
    }
    toCheck.push(...others.slice(0, passwordSample));
    for (let i = 0; i < toCheck.length; i += concurrency) {
      const batch = toCheck.slice(i, i + concurrency);
      const verdicts = await Promise.all(
        batch.map(async ({ user, row }) => {
          for (const state of [user.acked, ...user.unconfirmed]) {
            if (await passwordMatches(state.password, row.passwordHash)) return true;
          }
          return false;
        }),
      );
      verdicts.forEach((ok, k) => {
        const { user } = batch[k]!;
        if (!ok) lost.push(`user ${user.id} (${user.username}): the stored hash is not the acknowledged password's`);
      });
    }
    const passwordsChecked = toCheck.length;
    const phantoms = rows
      .filter((row) => !this.#attempted.has(row.username))
      .map((row) => `user ${row.id} (${row.username}): no create asked for it`);
    let landed = 0;
    for (const username of this.#failedCreates) if (byUsername.has(username)) landed++;
    const broken: string[] = [];
    for (const batch of this.#batches) {
      const present = batch.usernames.filter((username) => byUsername.has(username)).length;
      const whole = present === batch.usernames.length;
      if (batch.acknowledged ? !whole : present !== 0 && !whole) {
        broken.push(
          `transaction of ${batch.usernames.join(', ')} (${batch.acknowledged ? 'committed' : 'failed'}): ` +
            `${present} of ${batch.usernames.length} rows`,
        );
      }
    }
    return {
      acknowledgedWrites: this.#acknowledged,
      unconfirmedWrites: this.#unconfirmed,
      unconfirmedCreatesLanded: landed,
      lostWrites: lost,
      phantomRows: phantoms,
      brokenTransactions: broken,
      usersChecked: this.#users.size,
      passwordsChecked,
    };
  }
}
