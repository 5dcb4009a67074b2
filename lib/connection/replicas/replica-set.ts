/**
 * The read replicas of one Database: one PgDriver (and pool) per replica, round robin over those
 * that are up, and their health. A replica that fails (cannot be reached, drops a connection,
 * fails a health check) is marked down and skipped; once DB_REPLICA_RETRY_MS has passed, the next
 * read that looks for a replica starts a health check of it in the background, and only a passing
 * check brings it back. Nothing runs on a timer: an idle Database checks nothing.
 */
import { CompiledQuery } from 'kysely';
import type { ConnectionTarget } from '../../config.js';
import { DatabaseError, mapError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { PgDriver } from '../pg/pg-driver.js';
import { within } from '../within.js';

/** Whether a replica takes reads. */
export type ReplicaState = 'up' | 'down';

/** One read replica: its server, its driver (own pool), and what is known of its health. */
export interface Replica {
  readonly target: ConnectionTarget;
  readonly driver: PgDriver;
  /** 'up' until it fails (replicas start up: their pools connect on first use). */
  readonly state: ReplicaState;
  /** How far replay is behind, from the last health check; undefined when unknown or not a standby. */
  readonly lagMs: number | undefined;
  /** Why it was last marked down (no secrets). */
  readonly lastError: string | undefined;
}

/** Options of ReplicaSet. */
export interface ReplicaSetOptions {
  /** DB_REPLICA_RETRY_MS: how long a replica stays down before it is checked again. */
  readonly retryMs: number;
  /** Bound on one health check. */
  readonly checkTimeoutMs: number;
  readonly logger: Logger;
}

/**
 * Lag of a standby: 0 when it has replayed everything it received (an idle primary sends nothing,
 * so the age of the last replayed transaction alone would grow without the replica being behind),
 * else the age of the last transaction it replayed. NULL on a server that is not in recovery.
 */
const HEALTH_CHECK = CompiledQuery.raw(
  `select pg_is_in_recovery() as "inRecovery",
          case when not pg_is_in_recovery() then null
               when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0
               else extract(epoch from now() - pg_last_xact_replay_timestamp()) * 1000
          end as "lagMs"`,
);

class Member implements Replica {
  state: ReplicaState = 'up';
  lagMs: number | undefined;
  lastError: string | undefined;
  /** performance.now() after which a down member may be checked again. */
  retryAt = 0;
  checking: Promise<boolean> | undefined;

  constructor(
    readonly target: ConnectionTarget,
    readonly driver: PgDriver,
    /** A host of a multi-host DATABASE_URL: takes reads only while a check finds it a standby. */
    readonly standbyOnly: boolean,
  ) {
    if (standbyOnly) {
      // down until its first check (at the first read) finds it a standby
      this.state = 'down';
      this.lastError = 'not checked yet';
    }
  }
}

/**
 * The replicas, in the order DATABASE_REPLICA_URLS lists them.
 *
 * @example
 * const replicas = new ReplicaSet([{ target, driver }], { retryMs: 5000, checkTimeoutMs: 5000, logger });
 * const replica = replicas.next(); // undefined when none is up: read from the primary
 */
export class ReplicaSet {
  readonly #members: readonly Member[];
  readonly #options: ReplicaSetOptions;
  #cursor = 0;
  /** Whether "no replica is up" was logged since the last time one was. */
  #noneUpLogged = false;

  constructor(
    replicas: readonly { target: ConnectionTarget; driver: PgDriver; standbyOnly?: boolean }[],
    options: ReplicaSetOptions,
  ) {
    this.#members = replicas.map(({ target, driver, standbyOnly }) => new Member(target, driver, standbyOnly === true));
    this.#options = options;
  }

  /** How many replicas are configured. */
  get size(): number {
    return this.#members.length;
  }

  /** Every replica with its state, in configuration order. */
  get replicas(): readonly Replica[] {
    return this.#members;
  }

  /**
   * The next replica that is up, round robin; undefined when none is (logged once, at warn, until
   * one is back). Starts a background health check of each down replica whose retry time has come.
   * @throws never.
   */
  next(): Replica | undefined {
    const members = this.#members;
    const now = performance.now();
    let found: Member | undefined;
    for (let i = 0; i < members.length; i++) {
      const index = (this.#cursor + i) % members.length;
      const member = members[index]!;
      if (member.state === 'up') {
        if (found === undefined) {
          found = member;
          this.#cursor = index + 1;
        }
      } else if (now >= member.retryAt && member.checking === undefined) {
        void this.#check(member);
      }
    }
    if (found === undefined && members.length > 0 && !this.#noneUpLogged) {
      this.#noneUpLogged = true;
      this.#options.logger.warn('no read replica is up: reads go to the primary until one is back', {
        replicas: members.map((m) => m.target.redactedUrl),
        retryMs: this.#options.retryMs,
      });
    }
    return found;
  }

  /**
   * Marks `replica` down after `error` (a failed connection or health check): reads skip it until a
   * health check, DB_REPLICA_RETRY_MS later, passes. Logged at warn when it was up.
   * @throws never.
   */
  markDown(replica: Replica, error: unknown): void {
    const member = this.#members.find((m) => m === replica);
    if (member === undefined) return;
    const message = mapError(error, { variable: 'DATABASE_REPLICA_URLS' }).message;
    member.lastError = message;
    member.retryAt = performance.now() + this.#options.retryMs;
    if (member.state === 'down') return;
    member.state = 'down';
    this.#options.logger.warn('read replica is down; reads skip it until a health check passes', {
      replica: member.target.redactedUrl,
      error: message,
      retryMs: this.#options.retryMs,
    });
  }

  /**
   * Checks every replica now, each bounded by checkTimeoutMs, updating state and lag.
   * @throws never.
   */
  async checkAll(): Promise<void> {
    await Promise.all(this.#members.map((member) => member.checking ?? this.#check(member)));
  }

  /**
   * Checks every replica again in the background (after a failover: a standby may have become
   * the primary, the old primary a standby).
   * @throws never.
   */
  recheck(): void {
    for (const member of this.#members) if (member.checking === undefined) void this.#check(member);
  }

  /** Ends every replica's pool. Idempotent. @throws never (each driver's destroy never throws). */
  async close(): Promise<void> {
    await Promise.all(this.#members.map((member) => member.driver.destroy()));
  }

  /** One health check: true when it passed. Never rejects. */
  #check(member: Member): Promise<boolean> {
    const checking = (async () => {
      try {
        const { rows } = await within(
          member.driver.run<{ inRecovery: boolean; lagMs: string | number | null }>(HEALTH_CHECK),
          this.#options.checkTimeoutMs,
          `health check of the read replica timed out after ${this.#options.checkTimeoutMs} ms`,
        );
        if (member.standbyOnly && rows[0]?.inRecovery !== true) {
          throw new DatabaseError('not a standby: it is the primary (DATABASE_URL lists it)');
        }
        const lag = rows[0]?.lagMs;
        member.lagMs = lag === null || lag === undefined ? undefined : Math.max(0, Math.round(Number(lag)));
        this.#markUp(member);
        return true;
      } catch (error) {
        this.markDown(member, error);
        return false;
      } finally {
        member.checking = undefined;
      }
    })();
    member.checking = checking;
    return checking;
  }

  #markUp(member: Member): void {
    if (member.state === 'up') return;
    member.state = 'up';
    member.lastError = undefined;
    this.#noneUpLogged = false;
    this.#options.logger.info('read replica is up again; it takes reads', { replica: member.target.redactedUrl });
  }
}
