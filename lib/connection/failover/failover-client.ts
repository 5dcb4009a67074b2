/**
 * The pg side of a multi-host DATABASE_URL: a pg Client class whose `connect()` goes to the host
 * the HostSelector chooses (waiting while it searches), the per-connection role check that
 * `target_session_attrs` asks for, and the probe the selector reaches hosts with. pg-pool creates
 * the clients (its `Client` option), so the pool, its limits and its timeouts stay pg-pool's.
 */
import type { Duplex } from 'node:stream';
import pg from 'pg';
import type { ConnectionTarget, FailoverConfig } from '../../config.js';
import { ConnectionError, ReadOnlyTransactionError } from '../../errors.js';
import type { SetUpConnection } from '../pg/connection-setup.js';
import type { HostRouting } from '../pg/pg-driver.js';
import { clientSocket } from '../pg/pg-internals.js';
import { serverSettings } from '../pg/pg-pool.js';
import { within } from '../within.js';
import type { Host, HostSelector } from './host-selector.js';
import { acceptsRole, wantsPrimary, serverRole, SERVER_ROLE_QUERY, type ServerRole } from './server-role.js';

/** Where a client of the failover pool connected, and the selector's generation then. */
interface Placement {
  readonly host: Host;
  readonly generation: number;
}

const placements = new WeakMap<object, Placement>();

/** Marks an error of a checkout that another host (or the same, found again) may not repeat. */
const TRY_AGAIN = Symbol('kysely-repository.tryAnotherHost');

/** Options of failoverClient. */
export interface FailoverClientOptions {
  /** `connect_timeout`: bound on connecting to one host. */
  readonly connectTimeoutMs: number | undefined;
}

/**
 * A pg Client class for the pool's `Client` option: each instance connects to the host `selector`
 * chooses. While the selector searches, `connect()` waits, up to the pool's connection timeout.
 * A connection that fails marks its host unreachable (and the checkout may be tried again: see
 * {@link hostRouting}).
 *
 * @example
 * new pg.Pool({ ...settings, Client: failoverClient(selector, { connectTimeoutMs: 5000 }) });
 * @throws never itself; its `connect()` rejects with the selector's ConnectionError or pg's error.
 */
export function failoverClient(selector: HostSelector, options: FailoverClientOptions): typeof pg.Client {
  return class FailoverClient extends pg.Client {
    readonly #waitMs: number;

    constructor(config?: string | pg.ClientConfig) {
      const given = typeof config === 'object' ? config : {};
      super(
        options.connectTimeoutMs === undefined
          ? given
          : { ...given, connectionTimeoutMillis: options.connectTimeoutMs },
      );
      // pg-pool gives up on a connection after its own connectionTimeoutMillis (DB_POOL_TIMEOUT)
      this.#waitMs = given.connectionTimeoutMillis ?? 0;
    }

    override connect(): Promise<pg.Client>;
    override connect(callback: (error: Error) => void): void;
    override connect(callback?: (error: Error) => void): Promise<pg.Client> | undefined {
      const connecting = this.#connect();
      if (callback === undefined) return connecting;
      connecting.then(
        () => callback(undefined as unknown as Error),
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      );
      return undefined;
    }

    async #connect(): Promise<pg.Client> {
      const choosing = selector.choose();
      const host = await (this.#waitMs > 0
        ? within(
            choosing,
            this.#waitMs,
            `no host of DATABASE_URL was found within ${this.#waitMs} ms (DB_POOL_TIMEOUT)`,
          )
        : choosing);
      const generation = selector.generation;
      // pg-pool's connection timeout may have closed the socket while the host was looked for
      if (clientSocket(this)?.destroyed === true) {
        throw new ConnectionError('the connection timed out while a host of DATABASE_URL was looked for');
      }
      this.host = host.target.host;
      this.port = host.target.port;
      try {
        await super.connect();
      } catch (error) {
        selector.unreachable(host, error);
        throw tryAnotherHost(error);
      }
      placements.set(this, { host, generation });
      return this;
    }
  };
}

/** Marks `error` as one acquireConnection may answer by checking out again. */
function tryAnotherHost(error: unknown): unknown {
  if (typeof error === 'object' && error !== null) Object.defineProperty(error, TRY_AGAIN, { value: true });
  return error;
}

/**
 * The setup of each new connection of the failover pool: the role check `target_session_attrs`
 * asks for (one statement; none for `any`), then `next` (the DB_PGBOUNCER setup).
 * @throws ConnectionError (which a checkout may retry) when the server has the wrong role.
 */
export function checkRoleOnConnect(
  selector: HostSelector,
  config: FailoverConfig,
  next: SetUpConnection | undefined,
): SetUpConnection | undefined {
  const attrs = config.targetSessionAttrs;
  // any server will do: reaching it is the check
  if (attrs === 'any') return next;
  return async (client) => {
    const { rows } = await client.query<{ standby: unknown; read_only: unknown }>(SERVER_ROLE_QUERY);
    const role = serverRole(rows[0]);
    const placement = placements.get(client);
    if (!acceptsRole(attrs, role)) {
      if (placement) selector.wrongRole(placement.host, role);
      throw tryAnotherHost(
        new ConnectionError(
          `${placement?.host.address ?? 'the server'} is ${role.standby ? 'a standby' : 'read-only'}, not a ${attrs} server (target_session_attrs)`,
          { code: '08001' },
        ),
      );
    }
    return next ? next(client) : { transactionPooled: false };
  };
}

/** Options of probeServer. */
export interface ProbeOptions {
  readonly applicationName: string;
  /** The tunnel's socket factory for `target`, when connections go through SSH. */
  readonly stream?: (target: ConnectionTarget) => () => Duplex;
}

/**
 * Connects to `target` on a connection of its own, asks its role, and closes it, all within
 * `timeoutMs`; `signal` ends it early.
 * @throws ConnectionError when the host cannot be reached in time; pg's error otherwise.
 */
export async function probeServer(
  target: ConnectionTarget,
  timeoutMs: number,
  options: ProbeOptions,
  signal?: AbortSignal,
): Promise<ServerRole> {
  const client = new pg.Client({
    ...serverSettings(target),
    application_name: options.applicationName,
    connectionTimeoutMillis: timeoutMs,
    ...(options.stream ? { stream: options.stream(target) } : {}),
  });
  client.on('error', () => undefined);
  // the Database closed: the connection ends at once
  const abandon = () => void client.end().catch(() => undefined);
  signal?.addEventListener('abort', abandon, { once: true });
  const probe = async (): Promise<ServerRole> => {
    await client.connect();
    const { rows } = await client.query<{ standby: unknown; read_only: unknown }>(SERVER_ROLE_QUERY);
    return serverRole(rows[0]);
  };
  try {
    return await within(probe(), timeoutMs, `${target.host}:${target.port} did not answer within ${timeoutMs} ms`);
  } finally {
    signal?.removeEventListener('abort', abandon);
    void client.end().catch(() => undefined);
  }
}

/**
 * The HostRouting a PgDriver of the failover pool uses: connections of an older generation are
 * not used, a lost connection sends the selector looking, a 25006 under `read-write` or
 * `primary` has the host's role checked again, and a checkout that found the host gone or of the
 * wrong role is tried again.
 * @throws never.
 */
export function hostRouting(selector: HostSelector, config: FailoverConfig): HostRouting {
  const readOnlyMatters = wantsPrimary(config.targetSessionAttrs);
  /** Where `client` connected, while that host is still the one new connections go to. */
  const placed = (client: object): Placement | undefined => {
    const placement = placements.get(client);
    return placement && selector.usable(placement.generation) ? placement : undefined;
  };
  return {
    usable: (client) => !placements.has(client) || placed(client) !== undefined,
    failed: (client, error) => {
      const host = placed(client)?.host;
      if (host === undefined) return;
      if (error instanceof ConnectionError) selector.unreachable(host, error);
      else if (readOnlyMatters && error instanceof ReadOnlyTransactionError) selector.verify(host);
    },
    retryable: (error) =>
      typeof error === 'object' && error !== null && (error as { [TRY_AGAIN]?: boolean })[TRY_AGAIN] === true,
  };
}
