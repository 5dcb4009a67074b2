/**
 * What the layers above the connection know of the Database behind a Kysely: its settings, logger
 * and counters, and the {@link StatementEngine} its engine provides. createDatabase registers one
 * context per Kysely it makes; the transaction helper and repositories look it up and never import
 * an engine themselves.
 */
import type { CompiledQuery, Kysely, QueryResult } from 'kysely';
import type { DatabaseConfig } from './config.js';
import type { ConnectionStats } from './connection/connection-stats.js';
import type { CopyValue } from './connection/pg-copy.js';
import type { Logger } from './logger.js';

/** Whether a statement only reads, or writes. */
export type StatementIntent = 'read' | 'write';

/** COPY … FROM STDIN, as an engine that has it offers it. */
export interface CopyIn {
  /** Whether every value of `rows` is one COPY's text format carries as an INSERT would store it. */
  accepts(rows: readonly (readonly unknown[])[]): rows is readonly (readonly CopyValue[])[];
  /** Streams `rows` through `statement` (`copy … from stdin`), in `trx` when given; resolves to the row count. */
  into(statement: string, rows: readonly (readonly CopyValue[])[], trx?: Kysely<unknown>): Promise<number>;
}

/**
 * The engine's side of the repository's fast paths: run a compiled statement past Kysely's
 * executor (a statement marked by preparedQuery() runs as a named prepared statement where the
 * engine has them), stream rows with COPY, and say how a Date travels. Every member but `dateText`
 * is optional: without it, the repository takes Kysely's public path.
 */
export interface StatementEngine {
  /**
   * Runs a compiled statement on a pooled connection outside any transaction, past Kysely's
   * executor and plugins (rows come back as the driver gives them). `intent` says whether it only
   * reads (a replica may serve it) or writes.
   */
  readonly execute?: <R>(query: CompiledQuery, intent: StatementIntent) => Promise<QueryResult<R>>;
  /**
   * Runs a compiled statement in the transaction `trx` of this Database, straight on its
   * connection once Kysely has shown which one that is (rows come back as the driver gives them).
   */
  readonly executeIn?: <R>(trx: Kysely<unknown>, query: CompiledQuery) => Promise<QueryResult<R>>;
  /** COPY rows in, when the engine has it. */
  readonly copy?: CopyIn;
  /**
   * The text this engine's driver sends for a Date parameter, for paths that carry values in
   * another form (createMany's JSON): the same Date must be stored the same way by every path.
   */
  readonly dateText: (date: Date) => string;
}

/** What the transaction helper and repositories need to know about the Database behind a Kysely. */
export interface DatabaseContext extends StatementEngine {
  readonly config: DatabaseConfig;
  readonly logger: Logger;
  readonly stats: ConnectionStats;
  /** Whether the CamelCasePlugin maps snake_case SQL names to camelCase TypeScript names. */
  readonly camelCase: boolean;
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
