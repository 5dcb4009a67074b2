/**
 * The engine interface: what the repository asks of whichever engine runs a Database, beyond
 * Kysely's executor. A leaf, like errors.ts: the engines (connection/pg/, connection/pglite/)
 * implement it, the database layer hands it up through the Database's context, and the
 * repository uses it without importing an engine.
 */
import type { CompiledQuery, Kysely, QueryResult } from 'kysely';

/** A value COPY's text format carries as an INSERT would store it; anything else goes through INSERT. */
export type CopyValue = string | number | bigint | boolean | Date | null | undefined;

/** Whether a statement only reads, or writes. */
export type StatementIntent = 'read' | 'write';

/** COPY … FROM STDIN, as an engine that has it offers it. */
export interface CopyIn {
  /** Whether every value of `rows` is a {@link CopyValue} COPY carries as an INSERT would store it. */
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
