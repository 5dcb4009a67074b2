/**
 * What a new pooled connection needs before its first statement, by DB_PGBOUNCER mode, and
 * whether it goes through a transaction pooler (PgBouncer in transaction mode, or any pooler
 * 'auto' detects): then nothing may rely on session state between transactions, so named prepared
 * statements are off and the statement timeout is set per transaction.
 *
 * PgBouncer refuses startup parameters it does not know (unless listed in its
 * ignore_startup_parameters), `statement_timeout` and `options` included, so DB_STATEMENT_TIMEOUT
 * travels as a startup parameter only with DB_PGBOUNCER=off:
 * - off: startup parameter (no extra round trip);
 * - session: `set_config('statement_timeout', …, false)` once per new connection (PgBouncer's
 *   server_reset_query clears it when the client leaves);
 * - transaction: `SET LOCAL statement_timeout` with every BEGIN (see PgDriver.beginTransaction);
 *   a statement outside a transaction runs under the server's own setting (ALTER ROLE … SET
 *   statement_timeout, or PgBouncer's query_timeout);
 * - auto: one statement per new connection both detects a pooler and, on a direct connection,
 *   sets the timeout for the session.
 */
import type pg from 'pg';
import type { DatabaseConfig } from '../../config.js';
import { backendPid } from './pg-internals.js';

/** What a new connection turned out to be. */
export interface ConnectionSetup {
  /** True when the connection goes through a transaction pooler: no session state between transactions. */
  readonly transactionPooled: boolean;
}

/** Runs once on each new pg client, before its first statement. */
export type SetUpConnection = (client: pg.ClientBase) => Promise<ConnectionSetup>;

const POOLED: ConnectionSetup = Object.freeze({ transactionPooled: true });
const DIRECT: ConnectionSetup = Object.freeze({ transactionPooled: false });

/**
 * In one round trip: the backend's pid, and — only when it is the pid the server announced at
 * startup (BackendKeyData), i.e. when no pooler sits in between — the session's statement timeout.
 * A pooler answers the startup itself with a key of its own (PgBouncer: random), so the pids differ.
 */
const detectionQuery =
  'select pg_backend_pid() as pid, ' +
  "case when pg_backend_pid() = $1::int then set_config('statement_timeout', $2, false) end as timeout";

/**
 * The statement timeout createPgPool sends as a startup parameter: DB_STATEMENT_TIMEOUT with
 * DB_PGBOUNCER=off, else undefined (a pooler would refuse the connection).
 *
 * @example
 * new pg.Pool({ ..., statement_timeout: startupStatementTimeout(config) });
 * @throws never.
 */
export function startupStatementTimeout(config: DatabaseConfig): number | undefined {
  return config.pgbouncer === 'off' ? config.statementTimeoutMs : undefined;
}

/**
 * The per-connection setup for `config.pgbouncer`, or undefined when a connection needs none
 * (DB_PGBOUNCER=off). 'auto' treats any pooler it detects as a transaction pooler (the safe
 * choice: session pooling works the same way with it).
 *
 * @example
 * const setUp = connectionSetup(config);
 * const { transactionPooled } = setUp ? await setUp(client) : { transactionPooled: false };
 * @throws never itself; the returned function rejects with pg's error when its statement fails.
 */
export function connectionSetup(config: DatabaseConfig): SetUpConnection | undefined {
  const timeout = String(config.statementTimeoutMs);
  switch (config.pgbouncer) {
    case 'off':
      return undefined;
    case 'transaction':
      return () => Promise.resolve(POOLED);
    case 'session':
      return async (client) => {
        await client.query("select set_config('statement_timeout', $1, false)", [timeout]);
        return DIRECT;
      };
    case 'auto':
      return async (client) => {
        const announced = backendPid(client);
        if (announced === undefined) return POOLED;
        const { rows } = await client.query<{ pid: number }>(detectionQuery, [announced, timeout]);
        return rows[0]?.pid === announced ? DIRECT : POOLED;
      };
  }
}
