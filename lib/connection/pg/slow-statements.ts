/**
 * Which statement texts are slow, learned from their runs: a statement queued behind a slow one
 * on a shared connection (pipelining) waits for it, so the driver never queues behind them.
 */
import { RecentlyUsed } from '../../recently-used.js';

/** A run this long, not queued behind another, marks its text as slow. */
export const SLOW_STATEMENT_MS = 10;

/** Slow texts remembered, the least recently slow forgotten first. */
const REMEMBERED = 1_000;

/** The statement texts whose last unqueued run was slow; bounded. */
export class SlowStatements {
  readonly #texts = new RecentlyUsed<string, true>(REMEMBERED);

  /** Whether `text`'s last unqueued run was slow. Never throws. */
  has(text: string): boolean {
    return this.#texts.has(text);
  }

  /** Learns from a run of `text` that took `ms` and waited behind no other statement. Never throws. */
  learn(text: string, ms: number): void {
    if (ms < SLOW_STATEMENT_MS) this.#texts.delete(text);
    else this.#texts.set(text, true);
  }
}
