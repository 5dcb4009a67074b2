/**
 * createDatabase(): a typed Kysely over a pg pool (optionally through the SSH tunnel) or over the
 * embedded engine (PGlite), with ping, health, status and close. One Database per application,
 * created once and passed on.
 */
import {
  CamelCasePlugin,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  CompiledQuery,
  type Dialect,
  type Driver,
  type KyselyPlugin,
  type LogEvent,
} from 'kysely';
import { sql } from 'kysely';
import {
  checkDatabaseConfig,
  loadConfig,
  poolCapacity,
  takeUnknownVariables,
  unknownVariableMessage,
  type ConnectionTarget,
  type DatabaseConfig,
  type FailoverConfig,
} from './config.js';
import { connectionSetup } from './connection/pg/connection-setup.js';
import { createConnectionStats, type ConnectionStats } from './connection/connection-stats.js';
import { within } from './connection/within.js';
import { registerContext } from './database-context.js';
import type { StatementEngine, StatementIntent } from './statement-engine.js';
import { createPGliteEngine, type PGliteEngine } from './connection/pglite/pglite-engine.js';
import { createPgPool } from './connection/pg/pg-pool.js';
import { ReadYourWrites } from './connection/replicas/read-your-writes.js';
import { ReplicaDriver } from './connection/replicas/replica-driver.js';
import { ReplicaRouter } from './connection/replicas/replica-router.js';
import { ReplicaSet, type ReplicaState } from './connection/replicas/replica-set.js';
import { SshTunnel, type TunnelStatus } from './connection/ssh/ssh-tunnel.js';
import { checkRoleOnConnect, failoverClient, hostRouting, probeServer } from './connection/failover/failover-client.js';
import { HostSelector, type FailoverStatus } from './connection/failover/host-selector.js';
import { wantsPrimary } from './connection/failover/server-role.js';
import { hasMethods, readOptions } from './arguments.js';
import { DatabaseError, IntegrityConstraintViolationError, mapError, ValidationError } from './errors.js';
import { createLogger, redactingLogger, type Logger } from './logger.js';
import { logParameters } from './redact.js';
import { secretParameters } from './secret-parameters.js';
import { currentTransaction } from './transaction/current-transaction.js';
import { currentSandbox, isOpeningSandbox, transactionKey } from './transaction/transaction-context.js';
import { sandboxAwareEngine, SandboxRoutingDriver, type SandboxRoute } from './connection/sandbox-routing-driver.js';
import { withTransaction } from './transaction/with-transaction.js';
import { DatabaseTelemetry, type TelemetrySnapshot, type TelemetryTarget } from './telemetry/database-telemetry.js';
import { openTelemetryApi } from './telemetry/opentelemetry-api.js';
import { checkTelemetryOptions, type TelemetryOptions } from './telemetry/telemetry-options.js';
import { PgDriver, pgQueryInstrumented, type PgDriverOptions } from './connection/pg/pg-driver.js';

/** Options of createDatabase. */
export interface CreateDatabaseOptions {
  /** (Default: loadConfig() from the environment and `.env`) */
  readonly config?: DatabaseConfig;
  /** Any Logger (winston's fits). Lines are redacted before they reach it. (Default: a winston logger) */
  readonly logger?: Logger;
  /** Plugins added after the CamelCasePlugin. */
  readonly plugins?: readonly KyselyPlugin[];
  /** snake_case in SQL, camelCase in TypeScript. (Default: true) */
  readonly camelCase?: boolean;
  /**
   * Kysely's log hook, called after the Database's own logging for every statement: those Kysely
   * runs, and those the driver sends by itself (the repositories' fast path, a BEGIN sent with a
   * transaction's first statement). (Default: none)
   */
  readonly log?: (event: LogEvent) => void;
  /**
   * What this Database reports to OpenTelemetry, when the application has @opentelemetry/api
   * installed and an SDK registered (README, "OpenTelemetry"). (Default: spans and metrics on)
   */
  readonly telemetry?: TelemetryOptions;
}

/** Pool gauges. */
export interface PoolStatus {
  /** Open connections. */
  readonly total: number;
  readonly idle: number;
  /** Callers waiting for a connection. */
  readonly waiting: number;
  /** The most connections it opens: DB_POOL_SIZE plus DB_MAX_OVERFLOW. */
  readonly max: number;
}

/** One read replica, as status() and health() report it. */
export interface ReplicaStatus {
  /** DATABASE_REPLICA_URLS entry, password masked. */
  readonly url: string;
  /** 'down' after it failed, until a health check (DB_REPLICA_RETRY_MS later) passes. */
  readonly state: ReplicaState;
  readonly pool: PoolStatus;
  /**
   * How far replay is behind the primary, from the last health check: 0 when it has replayed all
   * it received, else `now() - pg_last_xact_replay_timestamp()`. Undefined before the first check,
   * or when the server is not in recovery.
   */
  readonly lagMs?: number;
  /** Why it was marked down (no secrets). */
  readonly lastError?: string;
}

/** What status() reports. Counters are this Database's own. */
export interface DatabaseStatus {
  readonly engine: DatabaseConfig['engine'];
  /** The primary's pool. */
  readonly pool: PoolStatus;
  readonly queries: { readonly succeeded: number; readonly failed: number };
  readonly transactions: { readonly committed: number; readonly rolledBack: number; readonly retried: number };
  /** Log lines the logger (or the `log` hook) threw on: swallowed, so they never fail an operation. */
  readonly logFailures: number;
  readonly tunnel?: TunnelStatus;
  /**
   * Each host of a multi-host DATABASE_URL (role and state as last seen) and the one new
   * connections go to (present when DATABASE_URL lists several hosts or libpq failover parameters).
   */
  readonly failover?: FailoverStatus;
  /**
   * Each read replica, in DATABASE_REPLICA_URLS order, or each host of a multi-host DATABASE_URL
   * that serves reads (present when there are any).
   */
  readonly replicas?: readonly ReplicaStatus[];
}

/** What health() reports. */
export interface HealthReport {
  readonly ok: boolean;
  readonly engine: DatabaseConfig['engine'];
  /** Round trip of `select 1`, when it succeeded. */
  readonly latencyMs: number | undefined;
  readonly pool: PoolStatus;
  readonly tunnel?: TunnelStatus;
  /** Why it is not ok (no secrets). */
  readonly error?: string;
  /** Each host of a multi-host DATABASE_URL, reached just now (bounded): role and state. */
  readonly failover?: FailoverStatus;
  /**
   * Each read replica, checked just now (bounded): state and lag (present when replicas are
   * configured). A replica that is down does not make the report not ok: reads fall back to the primary.
   */
  readonly replicas?: readonly ReplicaStatus[];
}

/** A pooled, typed connection to PostgreSQL. */
export interface Database<DB> extends AsyncDisposable {
  /**
   * The typed Kysely instance: use it directly for anything the repositories don't cover. It is
   * the primary: everything run on it goes there, and a write through it counts for read-your-writes.
   */
  readonly db: Kysely<DB>;
  /** The primary, explicitly: the same Kysely as `db`. */
  readonly primary: Kysely<DB>;
  /**
   * Reads from a replica, explicitly: each connection comes from the next read replica that is up
   * (round robin), or from the primary when none is; read-your-writes is not consulted. Writes
   * through it are the caller's choice: a replica refuses them (ReadOnlyTransactionError, 25006).
   * Transactions on it are its own (repositories on `db` do not join them). The same Kysely as
   * `db` when no replicas are configured.
   */
  readonly replica: Kysely<DB>;
  readonly config: DatabaseConfig;
  /** The (redacting) logger this Database writes to. */
  readonly logger: Logger;
  /** `select 1` on the primary; true when it answered within the pool timeout. Never throws. */
  ping(): Promise<boolean>;
  /** ok, latency, pool and tunnel state, and the error when not ok; each replica checked, with its lag. Never throws. */
  health(): Promise<HealthReport>;
  /** Pool gauges, this Database's query and transaction counters, and each replica's last known state. */
  status(): DatabaseStatus;
  /** Ends the pools (waiting a bounded time for checked-out connections), then the tunnel. Idempotent. */
  close(): Promise<void>;
  /**
   * Runs one SQL statement with `$1`, `$2`, … placeholders bound to `values` (never spliced into
   * the text) and returns its rows as plain objects, keyed by the column names exactly as the
   * statement produces them (no camelCase mapping: alias a column `as "createdAt"` to get that
   * key). It goes through the Database's Kysely, so logging, timing, error mapping, the tunnel
   * and the pool apply; inside withTransaction it runs on that transaction's connection. Prefer
   * Kysely's `sql` template or a Repository when the statement can be typed; see docs/raw-sql.md.
   *
   * @example
   * const rows = await database.query<{ id: string; username: string }>(
   *   'select id, username from users where email = $1', [email]);
   * @throws ValidationError (field `text`) when `text` is not a non-empty string, (field `values`)
   * when `values` is not an array; the mapped DatabaseError of the statement (UniqueViolationError,
   * QueryTimeoutError, ConnectionError, …).
   */
  query<Row = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<Row[]>;
  /**
   * Runs one SQL statement once for each parameter list of `valuesList`, all in one transaction:
   * all of them or none. Returns the total of affected rows (INSERT, UPDATE, DELETE, MERGE; other
   * statements count 0). Inside withTransaction it runs in a savepoint of that transaction: a
   * failure undoes only this call's rows (and rejects), and the outer transaction's rollback
   * undoes them all. An empty `valuesList` returns 0 without a round trip.
   *
   * @example
   * const inserted = await database.executeMany(
   *   'insert into tags (name, weight) values ($1, $2)', [['a', 1], ['b', 2]]);
   * @throws ValidationError (field `text`) when `text` is not a non-empty string, (field
   * `valuesList`) when it is not an array of arrays (the message names the index); the mapped
   * DatabaseError of the first parameter list that fails (the message is the server's; nothing
   * of that call was written).
   */
  executeMany(text: string, valuesList: readonly (readonly unknown[])[]): Promise<number>;
}

const dialects = new WeakMap<object, Dialect>();

/** The dialect a Database made by createDatabase runs on (for createDialect). */
export function databaseDialect(database: object): Dialect | undefined {
  return dialects.get(database);
}

const CLOSE_TIMEOUT_CAP_MS = 5_000;

/** The Kysely `log` hook: timings, slow-query warnings, echo, and errors with their SQLSTATE. */
function queryLogger(config: DatabaseConfig, logger: Logger): (event: LogEvent) => void {
  const debug = config.logLevel === 'debug';
  return (event) => {
    const durationMs = Math.round(event.queryDurationMillis * 1000) / 1000;
    const { sql: text, parameters } = event.query;
    if (event.level === 'error') {
      const error = mapError(event.error);
      // a constraint violation is usually an answer the caller handles (a ConflictError, say): info
      const level = error instanceof IntegrityConstraintViolationError ? 'info' : 'error';
      logger[level]('query failed', { code: error.code, error: error.message, sql: text, durationMs });
      return;
    }
    const fields = config.echoSql
      ? { sql: text, parameters: logParameters(parameters, secretParameters(parameters)), durationMs }
      : undefined;
    if (durationMs >= config.slowQueryMs) logger.warn('slow query', fields ?? { sql: text, durationMs });
    else if (config.echoSql) logger.info('query', fields);
    else if (debug) logger.debug('query', { sql: text, durationMs });
  };
}

/** A Kysely dialect for PostgreSQL over `driver`. */
function postgresDialect(driver: Driver): Dialect {
  return {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => driver,
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  };
}

const HEALTH_CHECK_CAP_MS = 5_000;

class PooledDatabase<DB> implements Database<DB> {
  readonly db: Kysely<DB>;
  readonly primary: Kysely<DB>;
  readonly replica: Kysely<DB>;
  #driver: PgDriver | undefined;
  #replicas: ReplicaSet | undefined;
  #router: ReplicaRouter | undefined;
  #tunnel: SshTunnel | undefined;
  /** Which host of a multi-host DATABASE_URL the primary's connections go to. */
  #hosts: HostSelector | undefined;
  #embedded: PGliteEngine | undefined;
  #telemetry: DatabaseTelemetry | undefined;
  /** `telemetry.poolName`: the primary pool's name in metrics, when given. */
  #givenPoolName: string | undefined;
  readonly #stats: ConnectionStats;
  #closing: Promise<void> | undefined;

  constructor(
    readonly config: DatabaseConfig,
    readonly logger: Logger,
    options: CreateDatabaseOptions,
    stats: ConnectionStats,
  ) {
    this.#stats = stats;
    const ours = queryLogger(config, logger);
    const theirs = options.log;
    const observers = new Set<(event: LogEvent) => void>();
    const telemetry = createTelemetry(config, options.telemetry, logger, () => this.#telemetrySnapshot());
    this.#telemetry = telemetry;
    this.#givenPoolName = options.telemetry?.poolName;
    // each server's statements carry its address in their spans; a log hook that throws never
    // fails the statement it reports on
    const logFor =
      (target: TelemetryTarget | undefined) =>
      (event: LogEvent): void => {
        ours(event);
        telemetry?.statement(event, target);
        if (observers.size > 0) for (const observe of observers) observe(event);
        if (theirs) {
          try {
            theirs(event);
          } catch {
            stats.logFailures++;
          }
        }
      };
    const log = logFor(this.#telemetryTarget(config.connection, true));
    const dialect =
      config.engine === 'pglite'
        ? this.#embeddedDialect(config, logger)
        : this.#postgresDialect(config, logger, logFor, telemetry);
    const plugins = [...(options.camelCase === false ? [] : [new CamelCasePlugin()]), ...(options.plugins ?? [])];
    // test sandboxes (kysely-repository/testing) lend their connection to statements on `db`
    let key: object | undefined;
    const route: SandboxRoute = {
      current: () => currentSandbox((key ??= transactionKey(this.db as Kysely<unknown>))),
      opening: isOpeningSandbox,
    };
    const routed: Dialect = {
      createAdapter: () => dialect.createAdapter(),
      createDriver: () => new SandboxRoutingDriver(dialect.createDriver(), route, logger),
      createIntrospector: (db) => dialect.createIntrospector(db),
      createQueryCompiler: () => dialect.createQueryCompiler(),
    };
    this.db = new Kysely<DB>({ dialect: routed, plugins, log });
    dialects.set(this, dialect);
    this.primary = this.db;
    // the engine interface of whichever engine runs this Database (statement-engine.ts)
    const engine: StatementEngine = this.#driver?.statementEngine() ?? this.#embedded!.statementEngine;
    const sandboxed = (own: StatementEngine): StatementEngine =>
      sandboxAwareEngine(own, () => this.db as Kysely<unknown>, route);
    const base = { config, logger, stats: this.#stats, camelCase: options.camelCase !== false, observers, telemetry };
    const router = this.#router;
    if (router) {
      // repositories: reads to a replica unless this context wrote; on `replica`: always a replica.
      // Transactions and COPY always run on the primary.
      // a connection of `replica` may be any replica's (or the primary's): its spans name no server
      const replicaLog = logFor(this.#telemetryTarget(undefined));
      this.replica = new Kysely<DB>({ dialect: postgresDialect(new ReplicaDriver(router)), plugins, log: replicaLog });
      registerContext(this.db as Kysely<unknown>, {
        ...base,
        ...sandboxed({
          ...engine,
          execute: <R>(query: CompiledQuery, intent: StatementIntent) => router.run<R>(query, intent),
        }),
      });
      registerContext(this.replica as Kysely<unknown>, {
        ...base,
        dateText: engine.dateText,
        execute: <R>(query: CompiledQuery) => router.read<R>(query),
      });
    } else {
      this.replica = this.db;
      registerContext(this.db as Kysely<unknown>, { ...base, ...sandboxed(engine) });
    }
  }

  /** The embedded engine (PGlite, started on the first query) as a Kysely dialect. */
  #embeddedDialect(config: DatabaseConfig, logger: Logger): Dialect {
    if (config.replicas.length > 0) logger.warn('DATABASE_REPLICA_URLS is ignored by the embedded engine');
    this.#embedded = createPGliteEngine(config, {
      stats: this.#stats,
      logger,
      closeTimeoutMs: Math.min(config.pool.acquireTimeoutMs, CLOSE_TIMEOUT_CAP_MS),
    });
    return this.#embedded.dialect;
  }

  /**
   * The primary's pg pool (through the SSH tunnel when configured) as a Kysely dialect; with
   * DATABASE_REPLICA_URLS, a pool per replica (same settings, same tunnel) and the router between them.
   */
  #postgresDialect(
    config: DatabaseConfig,
    logger: Logger,
    logFor: (target: TelemetryTarget) => (event: LogEvent) => void,
    telemetry: DatabaseTelemetry | undefined,
  ): Dialect {
    const target = config.connection;
    if (!target) throw new DatabaseError('engine postgres needs a server: DATABASE_URL=postgres://…');
    const tunnel = config.ssh ? new SshTunnel(config.ssh, { logger, telemetry }) : undefined;
    this.#tunnel = tunnel;
    const { failover } = config;
    const selector = failover && this.#hostSelector(failover, tunnel, logger);
    // `primary`: the pool of DATABASE_URL
    const pgDriver = (server: ConnectionTarget, extra: Partial<PgDriverOptions> = {}, primary = false): PgDriver => {
      const telemetryAt = this.#telemetryTarget(server, primary);
      // the primary of a multi-host DATABASE_URL: each new connection goes where the selector says
      const routed = primary && failover && selector ? { selector, failover } : undefined;
      return new PgDriver({
        createPool: () =>
          createPgPool(server, config, {
            logger,
            ...(tunnel
              ? { stream: tunnel.streamFactory(routed ? undefined : { host: server.host, port: server.port }) }
              : {}),
            ...(routed ? { client: failoverClient(routed.selector, routed.failover) } : {}),
          }),
        preparedStatements: config.preparedStatements && config.pgbouncer !== 'transaction',
        pipelining: config.pipelining && config.pgbouncer !== 'transaction',
        setUpConnection: routed
          ? checkRoleOnConnect(routed.selector, routed.failover, connectionSetup(config))
          : connectionSetup(config),
        ...(routed ? { hosts: hostRouting(routed.selector, routed.failover) } : {}),
        statementTimeoutMs: config.statementTimeoutMs,
        stats: this.#stats,
        logger,
        log: logFor(telemetryAt),
        ...(telemetry ? { telemetry: { reporter: telemetry, target: telemetryAt } } : {}),
        closeTimeoutMs: Math.min(config.pool.acquireTimeoutMs, CLOSE_TIMEOUT_CAP_MS),
        ...extra,
      });
    };
    // a multi-host DATABASE_URL following the primary: its standbys take reads
    const standbys =
      config.replicas.length === 0 && failover && failover.hosts.length > 1 && wantsPrimary(failover.targetSessionAttrs)
        ? failover.hosts
        : [];
    if (config.replicas.length === 0 && standbys.length === 0) {
      this.#driver = pgDriver(target, {}, true);
      return postgresDialect(this.#driver);
    }
    const readYourWrites = new ReadYourWrites({ windowMs: config.readYourWritesMs });
    // the primary sees every statement run through Kysely, in or out of transactions: it marks writes
    const primary = pgDriver(target, { afterStatement: (query) => readYourWrites.noteStatement(query) }, true);
    this.#driver = primary;
    this.#replicas = new ReplicaSet(
      [
        ...config.replicas.map((server) => ({ target: server, driver: pgDriver(server) })),
        ...standbys.map((server) => ({ target: server, driver: pgDriver(server), standbyOnly: true })),
      ],
      {
        retryMs: config.replicaRetryMs,
        checkTimeoutMs: Math.min(config.pool.acquireTimeoutMs, HEALTH_CHECK_CAP_MS),
        logger,
      },
    );
    this.#router = new ReplicaRouter(primary, this.#replicas, readYourWrites);
    return postgresDialect(primary);
  }

  /** The host selector of a multi-host DATABASE_URL; a failover has the replicas checked again. */
  #hostSelector(config: FailoverConfig, tunnel: SshTunnel | undefined, logger: Logger): HostSelector {
    const { applicationName } = this.config;
    const selector = new HostSelector(config, {
      probe: (server, timeoutMs, signal) =>
        probeServer(
          server,
          timeoutMs,
          {
            applicationName,
            ...(tunnel ? { stream: (to) => tunnel.streamFactory({ host: to.host, port: to.port }) } : {}),
          },
          signal,
        ),
      logger,
      onFailover: () => this.#replicas?.recheck(),
    });
    this.#hosts = selector;
    return selector;
  }

  async query<Row = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<Row[]> {
    checkText(text);
    const list = values === undefined ? [] : parameterList(values, 'values', 'values');
    const executor = (currentTransaction(this.db) ?? this.db).withoutPlugins();
    const result = await executor.executeQuery<Row>(CompiledQuery.raw(text, list));
    return [...result.rows];
  }

  async executeMany(text: string, valuesList: readonly (readonly unknown[])[]): Promise<number> {
    checkText(text);
    if (!Array.isArray(valuesList)) {
      throw new ValidationError('valuesList', 'type', 'valuesList must be an array of parameter arrays');
    }
    const lists = Array.from(valuesList as readonly unknown[], (values, i) =>
      parameterList(values, 'valuesList', `valuesList[${i}]`),
    );
    if (lists.length === 0) return 0;
    return withTransaction(this.db, async (trx) => {
      const executor = trx.withoutPlugins();
      let total = 0n;
      for (const list of lists) {
        const result = await executor.executeQuery(CompiledQuery.raw(text, list));
        total += result.numAffectedRows ?? 0n;
      }
      return Number(total);
    });
  }

  async ping(): Promise<boolean> {
    try {
      await within(sql`select 1`.execute(this.db), this.config.pool.acquireTimeoutMs, 'ping timed out');
      return true;
    } catch {
      return false;
    }
  }

  async health(): Promise<HealthReport> {
    const replicasChecked = this.#replicas?.checkAll();
    const hostsChecked = this.#hosts?.checkAll(Math.min(this.config.pool.acquireTimeoutMs, HEALTH_CHECK_CAP_MS));
    const started = performance.now();
    let error: string | undefined;
    try {
      await within(sql`select 1`.execute(this.db), this.config.pool.acquireTimeoutMs, 'health check timed out');
    } catch (cause) {
      error = mapError(cause).message;
    }
    const latencyMs = error === undefined ? Math.round((performance.now() - started) * 1000) / 1000 : undefined;
    await Promise.all([replicasChecked, hostsChecked]);
    return {
      ok: error === undefined,
      engine: this.config.engine,
      latencyMs,
      pool: this.#poolStatus(),
      ...(this.#tunnel ? { tunnel: this.#tunnel.status() } : {}),
      ...(error === undefined ? {} : { error }),
      ...(this.#hosts ? { failover: this.#hosts.status() } : {}),
      ...(this.#replicas ? { replicas: this.#replicaStatuses() } : {}),
    };
  }

  status(): DatabaseStatus {
    const stats = this.#stats;
    return {
      engine: this.config.engine,
      pool: this.#poolStatus(),
      queries: { succeeded: stats.succeeded, failed: stats.failed },
      transactions: { committed: stats.committed, rolledBack: stats.rolledBack, retried: stats.retried },
      logFailures: stats.logFailures,
      ...(this.#tunnel ? { tunnel: this.#tunnel.status() } : {}),
      ...(this.#hosts ? { failover: this.#hosts.status() } : {}),
      ...(this.#replicas ? { replicas: this.#replicaStatuses() } : {}),
    };
  }

  async close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#telemetry?.close();
      this.#hosts?.close();
      try {
        await Promise.all([this.#driver?.destroy(), this.#replicas?.close()]);
        await this.#embedded?.close();
      } finally {
        await this.#tunnel?.close();
      }
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The gauges the metric reader collects (at collection time only). */
  #telemetrySnapshot(): TelemetrySnapshot {
    const replicas = this.#replicas?.replicas ?? [];
    const tunnel = this.#tunnel?.status();
    return {
      pools: [
        { name: this.#poolName(this.config.connection, true), ...this.#poolStatus() },
        ...replicas.map((replica) => ({ name: this.#poolName(replica.target), ...this.#pgPoolStatus(replica.driver) })),
      ],
      retried: this.#stats.retried,
      ...(tunnel ? { tunnel } : {}),
      ...(this.#replicas
        ? {
            replicas: replicas.map((replica) => ({
              name: this.#poolName(replica.target),
              up: replica.state !== 'down',
              lagMs: replica.lagMs,
            })),
          }
        : {}),
    };
  }

  /**
   * `db.client.connection.pool.name` of the pool of `server` (the primary's, or a replica's): the
   * primary's is `telemetry.poolName` when given; else `host:port/database` (every host of a
   * multi-host DATABASE_URL for the primary), never credentials (`pglite` for the embedded engine).
   */
  #poolName(server: ConnectionTarget | undefined, primary = false): string {
    const given = primary ? this.#givenPoolName : undefined;
    if (given !== undefined) return given;
    if (!server || this.config.engine !== 'postgres') return 'pglite';
    const hosts = primary ? this.config.failover?.hosts : undefined;
    const addresses = (hosts ?? [server]).map((host) => `${host.host}:${host.port}`).join(',');
    return `${addresses}/${server.database}`;
  }

  /**
   * The server attributes of `server`'s spans and durations (none for the embedded engine); for
   * undefined, those of `replica`, whose connections come from any replica (or the primary).
   */
  #telemetryTarget(server: ConnectionTarget | undefined, primary = false): TelemetryTarget {
    const { config } = this;
    if (config.engine === 'pglite') return { poolName: this.#poolName(server, primary), tunnel: false };
    const tunnel = config.ssh !== undefined;
    if (server === undefined) {
      const namespace = config.connection?.database;
      return { ...(namespace ? { namespace } : {}), poolName: 'replicas', tunnel };
    }
    if (primary && config.failover) {
      // a multi-host DATABASE_URL: the server is whichever host the connection went to
      return { namespace: server.database, poolName: this.#poolName(server, true), tunnel };
    }
    return {
      address: server.host,
      port: server.port,
      namespace: server.database,
      poolName: this.#poolName(server, primary),
      tunnel,
    };
  }

  #poolStatus(): PoolStatus {
    if (this.#embedded) return this.#embedded.poolStatus();
    return this.#pgPoolStatus(this.#driver);
  }

  #pgPoolStatus(driver: PgDriver | undefined): PoolStatus {
    const pool = driver?.pool;
    return {
      total: pool?.totalCount ?? 0,
      idle: pool?.idleCount ?? 0,
      waiting: pool?.waitingCount ?? 0,
      max: poolCapacity(this.config.pool),
    };
  }

  #replicaStatuses(): ReplicaStatus[] {
    return (this.#replicas?.replicas ?? []).map((replica) => ({
      url: replica.target.redactedUrl,
      state: replica.state,
      pool: this.#pgPoolStatus(replica.driver),
      ...(replica.lagMs === undefined ? {} : { lagMs: replica.lagMs }),
      ...(replica.lastError === undefined ? {} : { lastError: replica.lastError }),
    }));
  }
}

/**
 * The Database's OpenTelemetry reporting, or undefined when `telemetry.enabled` is false or
 * @opentelemetry/api is not installed.
 */
function createTelemetry(
  config: DatabaseConfig,
  options: TelemetryOptions | undefined,
  logger: Logger,
  snapshot: () => TelemetrySnapshot,
): DatabaseTelemetry | undefined {
  if (options?.enabled === false) return undefined;
  const api = openTelemetryApi();
  if (api === undefined) return undefined;
  return new DatabaseTelemetry(api, {
    ...options,
    logger,
    secrets: config.secrets,
    snapshot,
    ...(config.engine === 'postgres' ? { instrumentedElsewhere: pgQueryInstrumented } : {}),
  });
}

/** @throws ValidationError (field `text`) unless `text` is a non-empty string. */
function checkText(text: unknown): asserts text is string {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new ValidationError('text', 'type', 'text must be a non-empty SQL string');
  }
}

/**
 * A copy of a statement's parameter list.
 * @throws ValidationError (field `field`) naming `label` when `values` is not an array.
 */
function parameterList(values: unknown, field: string, label: string): unknown[] {
  if (!Array.isArray(values)) {
    throw new ValidationError(field, 'type', `${label} must be an array of parameter values ($1 is its first)`);
  }
  return Array.from(values as unknown[]);
}

/**
 * The options of createDatabase, each of the form it must have.
 * @throws ValidationError naming the option.
 */
function checkDatabaseOptions(options: CreateDatabaseOptions): CreateDatabaseOptions {
  const bad = (field: string, allowed: string): never => {
    throw new ValidationError(field, 'type', `${field} must be ${allowed}`);
  };
  const { config, logger, plugins, camelCase, log } = options;
  if (config !== undefined) checkDatabaseConfig(config);
  if (logger !== undefined && !hasMethods(logger, ['error', 'warn', 'info', 'debug'])) {
    bad('logger', 'a Logger (error, warn, info and debug methods)');
  }
  let list: KyselyPlugin[] | undefined;
  if (plugins !== undefined) {
    try {
      if (Array.isArray(plugins)) list = Array.from(plugins as KyselyPlugin[]);
    } catch {
      list = undefined;
    }
    if (!list?.every((plugin) => hasMethods(plugin, ['transformQuery', 'transformResult']))) {
      bad('plugins', 'an array of Kysely plugins (transformQuery and transformResult methods)');
    }
  }
  if (camelCase !== undefined && typeof camelCase !== 'boolean') bad('camelCase', 'true or false');
  if (log !== undefined && typeof log !== 'function') bad('log', 'a function');
  const telemetry = checkTelemetryOptions(options.telemetry);
  return { ...options, telemetry, ...(list === undefined ? {} : { plugins: list }) };
}

/**
 * Creates a Database: a typed Kysely over a pg pool built from `config`, or, for engine `pglite`
 * (`DATABASE_URL=pglite://` in memory, `pglite:///abs/dir` persisted), over an in-process PGlite
 * with one connection (the optional peer dependency @electric-sql/pglite, loaded only then).
 * Nothing connects, loads or starts until the first query.
 *
 * @example
 * const database = createDatabase<DB>({ config: loadConfig() });
 * const users = await database.db.selectFrom('users').selectAll().execute();
 * await database.close();
 * @throws ConfigError when no config is given and the environment's is invalid; ValidationError
 * naming the option for options of the wrong form (a config that is not loadConfig's, a logger
 * without its methods, plugins that are not Kysely plugins). (For the embedded engine without
 * @electric-sql/pglite installed, the first query throws ConfigError.)
 */
export function createDatabase<DB>(given?: CreateDatabaseOptions): Database<DB> {
  const options = checkDatabaseOptions(readOptions(given, 'options'));
  const base = options.logger ?? createLogger(options.config ? { level: options.config.logLevel } : {});
  const config = options.config ?? loadConfig(process.env, { logger: base });
  const stats = createConnectionStats();
  const logger = redactingLogger(base, config.secrets, { component: 'kysely-repository' }, () => {
    stats.logFailures++;
  });
  // `createDatabase({ config: loadConfig() })`: loadConfig had no logger to warn to
  for (const unknown of takeUnknownVariables(config)) logger.warn(unknownVariableMessage(unknown), { ...unknown });
  return new PooledDatabase<DB>(config, logger, options, stats);
}
