/** Counters of one Database (never module-level): queries and transactions, as status() reports them. */
export interface ConnectionStats {
  /** Statements that succeeded. */
  succeeded: number;
  /** Statements that failed. */
  failed: number;
  /** Outermost transactions committed. */
  committed: number;
  /** Outermost transactions rolled back. */
  rolledBack: number;
  /** Transactions run again after a serialization failure or deadlock. */
  retried: number;
  /** Log lines the logger (or a `log` hook) failed to take: swallowed, never the caller's failure. */
  logFailures: number;
}

/** A fresh set of counters. */
export function createConnectionStats(): ConnectionStats {
  return { succeeded: 0, failed: 0, committed: 0, rolledBack: 0, retried: 0, logFailures: 0 };
}
