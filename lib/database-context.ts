/**
 * What the layers above the connection know of the Database behind a Kysely: its settings, logger
 * and counters, and the StatementEngine its engine implements (statement-engine.ts). createDatabase
 * registers one context per Kysely it makes; the transaction helper and repositories look it up
 * and never import an engine themselves.
 */
import type { Kysely, LogEvent } from 'kysely';
import type { DatabaseConfig } from './config.js';
import type { ConnectionStats } from './connection/connection-stats.js';
import type { Logger } from './logger.js';
import type { StatementEngine } from './statement-engine.js';
import type { DatabaseTelemetry } from './telemetry/database-telemetry.js';

/** What the transaction helper and repositories need to know about the Database behind a Kysely. */
export interface DatabaseContext extends StatementEngine {
  readonly config: DatabaseConfig;
  readonly logger: Logger;
  readonly stats: ConnectionStats;
  /** Whether the CamelCasePlugin maps snake_case SQL names to camelCase TypeScript names. */
  readonly camelCase: boolean;
  /**
   * Called with every statement's log event, after the Database's own logging (the testing kit's
   * statement recorder adds itself here). Empty unless something observes.
   */
  readonly observers: Set<(event: LogEvent) => void>;
  /** The Database's OpenTelemetry reporting; undefined when off or @opentelemetry/api is not installed. */
  readonly telemetry: DatabaseTelemetry | undefined;
}

/**
 * Database contexts by the Kysely createDatabase made and by its adapter, which every copy of that
 * Kysely shares (its transactions, withPlugin and withSchema copies), and no other Kysely has.
 */
const contexts = new WeakMap<object, DatabaseContext>();

/** Registers `context` for `db` and for every copy of it (createDatabase's, once per Kysely it makes). */
export function registerContext(db: Kysely<unknown>, context: DatabaseContext): void {
  contexts.set(db, context);
  contexts.set(db.getExecutor().adapter, context);
}

/**
 * The Database behind a Kysely made by createDatabase or any copy of it (a transaction of it, say),
 * or undefined for any other Kysely.
 */
export function databaseContext(db: Kysely<unknown>): DatabaseContext | undefined {
  return contexts.get(db) ?? contexts.get(db.getExecutor().adapter);
}
