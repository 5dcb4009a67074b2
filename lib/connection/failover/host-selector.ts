/**
 * Which host of a multi-host DATABASE_URL new connections go to, found the way libpq finds it
 * (hosts in order, or shuffled with `load_balance_hosts=random`; the first that answers and whose
 * role `target_session_attrs` accepts), and found again when that host fails: a connection to it
 * cannot be opened or is lost, or it refuses a write as read-only (25006) under `read-write` or
 * `primary`. Searching is bounded by DB_FAILOVER_TIMEOUT_MS, with jittered backoff between rounds;
 * one search runs at a time and every new connection waits for it.
 *
 * Connections carry the selector's generation from when they were opened: the generation moves
 * on when new connections go to another host (a failover) or the current one proved to be of the
 * wrong role, and a connection of an older generation is closed instead of used.
 */
import type { ConnectionTarget, FailoverConfig, TargetSessionAttrs } from '../../config.js';
import { ConnectionError, mapError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { acceptsRole, type ServerRole } from './server-role.js';

/** One host's role, as last seen. */
export type HostRole = 'primary' | 'standby' | 'unknown';

/** Whether a host answered when it was last tried. */
export type HostState = 'up' | 'down' | 'unknown';

/** One host of DATABASE_URL, as status() and health() report it. */
export interface HostStatus {
  /** This host's URL (DATABASE_URL with only this host), password masked. */
  readonly url: string;
  /** `host:port`. */
  readonly address: string;
  /** From the last time it was reached: `primary` (not in recovery) or `standby`. */
  readonly role: HostRole;
  /** Whether its sessions are read-only (a standby, or `default_transaction_read_only`); undefined until reached. */
  readonly readOnly?: boolean;
  readonly state: HostState;
  /** Whether new connections go to this host. */
  readonly current: boolean;
  /** Why it was last not usable (no secrets). */
  readonly lastError?: string;
}

/** The multi-host state of a Database, in status() and health(). */
export interface FailoverStatus {
  readonly targetSessionAttrs: TargetSessionAttrs;
  /** `host:port` new connections go to; undefined while one is being looked for. */
  readonly current: string | undefined;
  /** How many times new connections moved to another host since the Database was created. */
  readonly failovers: number;
  /** Every host, in DATABASE_URL order. */
  readonly hosts: readonly HostStatus[];
}

/** Reaches a host and reports its role; rejects when it cannot. */
export type ProbeServer = (target: ConnectionTarget, timeoutMs: number, signal: AbortSignal) => Promise<ServerRole>;

/** Options of HostSelector. */
export interface HostSelectorOptions {
  readonly probe: ProbeServer;
  readonly logger: Logger;
  /** Called after new connections moved from one host to another. */
  readonly onFailover?: (from: ConnectionTarget, to: ConnectionTarget) => void;
  /** (Default: Math.random) */
  readonly random?: () => number;
}

/** A host and what is known of it. */
export class Host {
  role: HostRole = 'unknown';
  readOnly: boolean | undefined;
  state: HostState = 'unknown';
  lastError: string | undefined;
  /** A check of its role after a 25006, while it runs. */
  verifying: Promise<void> | undefined;
  /** Whether it last refused the login or the database (waiting will not change that). */
  refused = false;

  constructor(readonly target: ConnectionTarget) {}

  get address(): string {
    return `${this.target.host}:${this.target.port}`;
  }
}

const BACKOFF_BASE_MS = 100;
const BACKOFF_CAP_MS = 1_000;
/** SQLSTATEs of a login refused (class 28) or a database that does not exist (3D000). */
const REFUSED = /^(?:28|3D000$)/;
/** The least time a round of the search must have left to be started. */
const ROUND_MIN_MS = 250;

/**
 * The hosts of one Database's primary pool and the one new connections go to.
 *
 * @example
 * const selector = new HostSelector(config.failover, { probe, logger });
 * const host = await selector.choose(); // connect to host.target
 */
export class HostSelector {
  readonly #hosts: readonly Host[];
  readonly #config: FailoverConfig;
  readonly #options: HostSelectorOptions;
  #current: Host | undefined;
  /** The host new connections went to before the current search (for the failover message). */
  #previous: Host | undefined;
  #searching: Promise<Host> | undefined;
  #generation = 0;
  #failovers = 0;
  /** Aborted by close(): ends the search, its backoff and the probes in flight. */
  readonly #closing = new AbortController();

  constructor(config: FailoverConfig, options: HostSelectorOptions) {
    this.#config = config;
    this.#options = options;
    this.#hosts = config.hosts.map((target) => new Host(target));
  }

  /** Moves on when new connections go to another host, or the current one has the wrong role. */
  get generation(): number {
    return this.#generation;
  }

  /** Every host, in DATABASE_URL order. */
  get hosts(): readonly Host[] {
    return this.#hosts;
  }

  /**
   * The host new connections go to: the known one, else the first that answers and matches
   * (the search all callers share).
   * @throws ConnectionError naming each host's state when none matches within DB_FAILOVER_TIMEOUT_MS.
   */
  choose(): Promise<Host> {
    const current = this.#current;
    if (current) return Promise.resolve(current);
    this.#searching ??= this.#search().finally(() => {
      this.#searching = undefined;
    });
    return this.#searching;
  }

  /**
   * Whether a connection opened at `generation` may still be used.
   * @throws never.
   */
  usable(generation: number): boolean {
    return generation === this.#generation;
  }

  /**
   * A connection to `host` could not be opened, or was lost: it is down until it answers again,
   * and new connections look for a host afresh (the same one again when it answers and matches).
   * @throws never.
   */
  unreachable(host: Host, error: unknown): void {
    host.state = 'down';
    host.lastError = mapError(error).message;
    if (host === this.#current) this.#forget(false);
  }

  /**
   * `host` turned out to have a role `target_session_attrs` does not accept (a new connection's
   * check, or a 25006 on a write): connections to it are no longer used, and new ones look for
   * the right host.
   * @throws never.
   */
  wrongRole(host: Host, role?: ServerRole): void {
    if (role) this.#note(host, role);
    host.lastError = `not a ${this.#config.targetSessionAttrs} server`;
    if (host !== this.#current) return;
    this.#forget(true);
  }

  /**
   * Checks `host`'s role again in the background, after a write on it failed with 25006: the
   * server may have become a standby (or been made read-only), or the application wrote in a
   * read-only transaction. Only a role `target_session_attrs` does not accept gives it up.
   * @throws never.
   */
  verify(host: Host): void {
    const deadline = performance.now() + this.#config.timeoutMs;
    host.verifying ??= this.#reach(host, deadline, this.#config.connectTimeoutMs)
      .then((role) => {
        if (role === undefined) {
          if (host === this.#current) this.#forget(false);
        } else if (!acceptsRole(this.#config.targetSessionAttrs, role)) {
          this.wrongRole(host);
        }
      })
      .finally(() => {
        host.verifying = undefined;
      });
  }

  /**
   * Reaches every host now (each bounded by `timeoutMs`) and records its role and state; the
   * current host found to have the wrong role is given up as by wrongRole.
   * @throws never.
   */
  async checkAll(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    await Promise.all(
      this.#hosts.map(async (host) => {
        const role = await this.#reach(host, deadline, undefined);
        if (role && host === this.#current && !acceptsRole(this.#config.targetSessionAttrs, role)) this.wrongRole(host);
      }),
    );
  }

  /** What status() reports. @throws never. */
  status(): FailoverStatus {
    return {
      targetSessionAttrs: this.#config.targetSessionAttrs,
      current: this.#current?.address,
      failovers: this.#failovers,
      hosts: this.#hosts.map((host) => ({
        url: host.target.redactedUrl,
        address: host.address,
        role: host.role,
        ...(host.readOnly === undefined ? {} : { readOnly: host.readOnly }),
        state: host.state,
        current: host === this.#current,
        ...(host.lastError === undefined ? {} : { lastError: host.lastError }),
      })),
    };
  }

  /**
   * Stops looking: a search in progress, its backoff and its probes end, and choose() fails from
   * now on. Idempotent.
   * @throws never.
   */
  close(): void {
    this.#closing.abort();
  }

  #forget(wrongRole: boolean): void {
    this.#previous = this.#current ?? this.#previous;
    this.#current = undefined;
    if (wrongRole) this.#generation++;
    // look now, so that the host is known by the time the next connection is asked for
    if (!this.#closing.signal.aborted) this.choose().catch(() => undefined);
  }

  #note(host: Host, role: ServerRole): void {
    host.state = 'up';
    host.role = role.standby ? 'standby' : 'primary';
    host.readOnly = role.readOnly;
    host.lastError = undefined;
    host.refused = false;
  }

  /** Rounds over the hosts until one matches, bounded by DB_FAILOVER_TIMEOUT_MS. */
  async #search(): Promise<Host> {
    const { targetSessionAttrs: attrs, timeoutMs, connectTimeoutMs } = this.#config;
    const started = performance.now();
    const deadline = started + timeoutMs;
    const signal = this.#closing.signal;
    for (let round = 0; ; round++) {
      if (signal.aborted) throw new ConnectionError('the Database is closed; create a new one to reconnect');
      // prefer-standby: the first standby that answers, else the first server that answers
      let fallback: Host | undefined;
      for (const host of this.#order()) {
        const role = await this.#reach(host, deadline, connectTimeoutMs);
        if (role === undefined) continue;
        if (attrs !== 'prefer-standby' ? acceptsRole(attrs, role) : role.standby) {
          return this.#settle(host, performance.now() - started);
        }
        if (attrs === 'prefer-standby') fallback ??= host;
      }
      if (fallback) return this.#settle(fallback, performance.now() - started);
      // every host refused the credentials or the database: another round would only repeat it
      if (this.#hosts.every((host) => host.state === 'down' && host.refused)) throw this.#noHost(timeoutMs);
      // another round only with time left to reach a host: the last backoff is cut short for it
      const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** round);
      const backoffMs = ceiling * (0.5 + (this.#options.random ?? Math.random)() / 2);
      const waitMs = Math.min(backoffMs, deadline - Math.min(ROUND_MIN_MS, timeoutMs / 4) - performance.now());
      if (waitMs < 0) throw this.#noHost(timeoutMs);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitMs);
        function done(): void {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** The role of `host`, or undefined when it cannot be reached before the deadline. */
  async #reach(host: Host, deadline: number, connectTimeoutMs: number | undefined): Promise<ServerRole | undefined> {
    const left = Math.max(1, deadline - performance.now());
    try {
      const role = await this.#options.probe(
        host.target,
        Math.min(connectTimeoutMs ?? left, left),
        this.#closing.signal,
      );
      this.#note(host, role);
      return role;
    } catch (error) {
      const mapped = mapError(error);
      host.state = 'down';
      host.lastError = mapped.message;
      host.refused = REFUSED.test(mapped.code ?? '');
      return undefined;
    }
  }

  #order(): readonly Host[] {
    if (this.#config.loadBalanceHosts !== 'random') return this.#hosts;
    const order = [...this.#hosts];
    const random = this.#options.random ?? Math.random;
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  }

  /** Makes `host` the one new connections go to; a move from another host is a failover. */
  #settle(host: Host, searchMs: number): Host {
    const previous = this.#previous;
    this.#current = host;
    this.#previous = undefined;
    if (previous !== undefined && previous !== host) {
      this.#generation++;
      this.#failovers++;
      this.#options.logger.warn('failover: new connections go to another server', {
        from: previous.address,
        to: host.address,
        role: host.role,
        targetSessionAttrs: this.#config.targetSessionAttrs,
        searchMs: Math.round(searchMs),
      });
      this.#options.onFailover?.(previous.target, host.target);
    }
    return host;
  }

  #noHost(timeoutMs: number): ConnectionError {
    const attrs = this.#config.targetSessionAttrs;
    const states = this.#hosts
      .map(
        (host) => `${host.address} ${host.state === 'down' ? `down (${host.lastError ?? 'unreachable'})` : host.role}`,
      )
      .join(', ');
    return new ConnectionError(
      `no host of DATABASE_URL was ${attrs === 'any' ? 'reachable' : `a ${attrs} server (target_session_attrs)`} within ${timeoutMs} ms (DB_FAILOVER_TIMEOUT_MS): ${states}`,
      { code: '08001', hint: 'check the hosts of DATABASE_URL, its target_session_attrs and DB_FAILOVER_TIMEOUT_MS' },
    );
  }
}
