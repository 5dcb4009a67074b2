/**
 * Which statement texts are slow, learned from their runs: a statement queued behind a slow one
 * on a shared connection (pipelining) waits for it, so the driver never queues behind them.
 */

/** A run this long, not queued behind another, marks its text as slow. */
export const SLOW_STATEMENT_MS = 10;

/** Slow texts remembered, the least recently slow forgotten first. */
const REMEMBERED = 1_000;

/** The statement texts whose last unqueued run was slow; bounded. */
export class SlowStatements {
  readonly #texts = new Set<string>();

  /** Whether `text`'s last unqueued run was slow. Never throws. */
  has(text: string): boolean {
    return this.#texts.size > 0 && this.#texts.has(text);
  }

  /** Learns from a run of `text` that took `ms` and waited behind no other statement. Never throws. */
  learn(text: string, ms: number): void {
    if (ms < SLOW_STATEMENT_MS) {
      if (this.#texts.size > 0) this.#texts.delete(text);
      return;
    }
    this.#texts.delete(text);
    this.#texts.add(text);
    if (this.#texts.size > REMEMBERED) this.#texts.delete(this.#texts.values().next().value!);
  }
}
