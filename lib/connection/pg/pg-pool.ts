/**
 * The pg Pool for one server, with the configured limits: size, connection wait, idle timeout,
 * maximum lifetime, statement timeout (a startup parameter when no pooler is in between);
 * optionally every connection through a stream factory (the SSH tunnel).
 */
import type { Duplex } from 'node:stream';
import pg from 'pg';
import { poolCapacity, type ConnectionTarget, type DatabaseConfig } from '../../config.js';
import type { Logger } from '../../logger.js';
import { startupStatementTimeout } from './connection-setup.js';

/** Options of createPgPool. */
export interface PgPoolOptions {
  readonly logger: Logger;
  /** Called once per new connection to make its socket (the SSH tunnel's channel factory). */
  readonly stream?: () => Duplex;
  /** The client class (a multi-host DATABASE_URL's, which chooses the host per connection). (Default: pg.Client) */
  readonly client?: typeof pg.Client;
}

/**
 * What pg needs to reach `target` and log in: host, port, database, user, password, TLS.
 * @example
 * new pg.Client({ ...serverSettings(config.connection), application_name: 'probe' });
 * @throws never.
 */
export function serverSettings(target: ConnectionTarget): pg.ClientConfig {
  return {
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.user,
    password: target.password,
    ssl: target.ssl === false ? false : target.ssl,
  };
}

/**
 * Creates a pg Pool for `target` with the pool settings of `config`. Opens nothing until the
 * first connection is asked for. An idle connection that breaks is logged, never a crash.
 *
 * With DB_MAX_OVERFLOW above 0 (SQLAlchemy QueuePool's `max_overflow`), the pool opens up to
 * DB_POOL_SIZE + DB_MAX_OVERFLOW connections under load; pg-pool's `min` keeps DB_POOL_SIZE of
 * them open while idle (until DB_POOL_RECYCLE), and closes the ones above it once idle for
 * DB_POOL_IDLE_TIMEOUT. At 0 (the default), every idle connection closes after DB_POOL_IDLE_TIMEOUT.
 */
export function createPgPool(target: ConnectionTarget, config: DatabaseConfig, options: PgPoolOptions): pg.Pool {
  const overflow = config.pool.maxOverflow ?? 0;
  const pool = new pg.Pool({
    ...serverSettings(target),
    max: poolCapacity(config.pool),
    // pg-pool closes idle connections only while it holds more than `min`
    min: overflow > 0 ? config.pool.size : 0,
    connectionTimeoutMillis: config.pool.acquireTimeoutMs,
    idleTimeoutMillis: config.pool.idleTimeoutMs,
    maxLifetimeSeconds: config.pool.maxLifetimeSeconds,
    // a startup parameter only without a pooler: PgBouncer refuses unknown ones (see connection-setup.ts)
    statement_timeout: startupStatementTimeout(config),
    application_name: config.applicationName,
    keepAlive: true,
    ...(options.stream ? { stream: options.stream } : {}),
    ...(options.client ? { Client: options.client } : {}),
  });
  pool.on('error', (error) => {
    options.logger.warn('an idle pooled connection failed and was removed', {
      error,
      server: target.redactedUrl,
    });
  });
  return pool;
}
