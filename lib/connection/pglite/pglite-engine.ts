/**
 * The embedded engine: PostgreSQL compiled to WebAssembly (@electric-sql/pglite), in this process,
 * in memory or in a data directory, behind Kysely's PGlite dialect. The package is loaded only
 * when this engine is used, and PGlite starts on the first query.
 */
import { mkdir } from 'node:fs/promises';
import pg from 'pg';
import {
  PGliteAdapter,
  type CompiledQuery,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type Dialect,
  type DialectAdapter,
  type PGlite,
} from 'kysely';
import { CONFIG_VARIABLES, type DatabaseConfig } from '../../config.js';
import { ConfigError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { StatementEngine } from '../../statement-engine.js';
import type { ConnectionStats } from '../connection-stats.js';
import { InstrumentedDriver } from '../instrumented-driver.js';
import { arrayParameterText, dateParameterText } from '../pg/pg-internals.js';
import { PGliteSessionDriver } from './pglite-driver.js';

/** Options of createPGliteEngine. */
export interface PGliteEngineOptions {
  /** The Database's counters. */
  readonly stats: ConnectionStats;
  readonly logger: Logger;
  /** How long close() waits for the connection in use. */
  readonly closeTimeoutMs: number;
}

/** Pool gauges of the embedded engine: one connection. */
export interface PGliteEnginePool {
  /** 1 while PGlite is running, else 0. */
  readonly total: number;
  readonly idle: number;
  /** Callers queued for the connection. */
  readonly waiting: number;
  /** Always 1. */
  readonly max: number;
}

/** The embedded engine behind one Database. */
export interface PGliteEngine {
  readonly dialect: Dialect;
  poolStatus(): PGliteEnginePool;
  /** Closes PGlite (after a bounded wait for the connection in use). Idempotent. */
  close(): Promise<void>;
  /** The engine interface the repository uses: no fast path and no COPY, so only how a Date is sent. */
  readonly statementEngine: StatementEngine;
}

const PACKAGE = '@electric-sql/pglite';
const INT8_OID = 20;
/** pg's parser of a type's text (pg-types, public; its typings list fewer OIDs than it parses). */
const pgTextParser = pg.types.getTypeParser as (oid: number, format: 'text') => (text: string) => unknown;

/** date, timestamp, timestamptz and their arrays: read into Dates by pg's own parsers, as on the pg path. */
const DATE_OIDS = [1082, 1114, 1184, 1182, 1115, 1185] as const;

/**
 * PGliteAdapter, but telling Kysely not to serialise connections itself: PGliteSessionDriver does,
 * with a timeout and a count of waiting callers. Everything else (migration lock: none needed,
 * since the Migrator holds the only connection) is PGliteAdapter's.
 */
class GatedPGliteAdapter extends PGliteAdapter {
  override get supportsMultipleConnections(): boolean {
    return true;
  }
}

function isModuleNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

/**
 * Loads @electric-sql/pglite and creates PGlite: in memory, or in `config.embeddedDir` (created
 * if missing). int8 is returned as a string, as pg returns it, so ids look the same on both engines.
 * @throws ConfigError when the package is not installed.
 */
async function openPGlite(config: DatabaseConfig): Promise<PGlite> {
  const module = await import('@electric-sql/pglite').catch((cause: unknown) => {
    if (!isModuleNotFound(cause)) throw cause;
    throw new ConfigError(
      'DATABASE_URL',
      `DATABASE_URL=pglite://… uses the embedded engine, which needs the ${PACKAGE} package: npm install ${PACKAGE}`,
      CONFIG_VARIABLES.DATABASE_URL.allowed,
      { cause },
    );
  });
  const dataDir = config.embeddedDir;
  if (dataDir !== undefined) await mkdir(dataDir, { recursive: true });
  return new module.PGlite({
    ...(dataDir === undefined ? {} : { dataDir }),
    parsers: {
      [INT8_OID]: (value: string) => value,
      ...Object.fromEntries(DATE_OIDS.map((oid) => [oid, pgTextParser(oid, 'text')])),
    },
  });
}

/**
 * `query` with its Date and array parameters as the text pg sends for them. PGlite would send a
 * Date as toISOString(), which stores another wall clock in a `timestamp` column whenever the
 * process is not in UTC and which the server cannot read for years past 9999, and it would send
 * an array bound to a jsonb column as JSON, which pg sends as an array literal (and the server
 * refuses): either way a spec passing on the embedded engine could fail on a server.
 */
function withPgParameters(query: CompiledQuery): CompiledQuery {
  const { parameters } = query;
  if (!parameters.some((value) => value instanceof Date || Array.isArray(value))) return query;
  const asPg = (value: unknown): unknown =>
    value instanceof Date
      ? dateParameterText(value)
      : Array.isArray(value)
        ? arrayParameterText(value as unknown[])
        : value;
  return { ...query, parameters: parameters.map(asPg) };
}

/** PGlite attaches the statement's parameter values to its errors; they may hold secrets. */
function withoutParameters(error: unknown): unknown {
  if (typeof error === 'object' && error !== null && 'params' in error) {
    delete (error as { params?: unknown }).params;
    delete (error as { queryOptions?: unknown }).queryOptions;
  }
  return error;
}

/**
 * Builds the embedded engine for `config` (engine `pglite`): Kysely's PGlite dialect with
 * PGliteSessionDriver inside InstrumentedDriver, so errors are mapped and counted exactly as on
 * the pg path. Nothing is loaded or started until the first query.
 *
 * What differs from a server: one connection (DB_POOL_SIZE does not apply; callers queue for it
 * up to DB_POOL_TIMEOUT); no statement timeouts (PGlite ignores `statement_timeout`, so
 * DB_STATEMENT_TIMEOUT and withTransaction's `timeoutMs` have no effect); no autovacuum; no
 * streaming; statements marked by preparedQuery() run unnamed (PGlite has no named statements).
 * A data directory must be opened by one Database at a time.
 *
 * @example
 * const engine = createPGliteEngine(config, { stats, logger, closeTimeoutMs: 5_000 });
 * const db = new Kysely<DB>({ dialect: engine.dialect });
 * @throws never; the first query throws ConfigError when @electric-sql/pglite is not installed.
 */
export function createPGliteEngine(config: DatabaseConfig, options: PGliteEngineOptions): PGliteEngine {
  const { stats, logger, closeTimeoutMs } = options;
  const session = new PGliteSessionDriver(
    { pglite: () => openPGlite(config) },
    { acquireTimeoutMs: config.pool.acquireTimeoutMs, closeTimeoutMs, logger },
  );
  const driver = new InstrumentedDriver(session, {
    stats,
    logger,
    prepareError: withoutParameters,
    prepareQuery: withPgParameters,
  });
  const dialect: Dialect = {
    createAdapter: (): DialectAdapter => new GatedPGliteAdapter(),
    createDriver: () => driver,
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  };
  return {
    dialect,
    poolStatus: () => {
      const { open, inUse, waiting } = session.state;
      const total = open ? 1 : 0;
      return { total, idle: open && !inUse ? 1 : 0, waiting, max: 1 };
    },
    close: () => driver.destroy(),
    // a Date goes as pg sends it (see withPgParameters); everything else takes Kysely's public path
    statementEngine: { dateText: dateParameterText },
  };
}
