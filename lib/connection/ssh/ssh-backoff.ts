/**
 * Bounded, jittered backoff between attempts to (re)establish the SSH connection.
 */

/** Backoff bounds. */
export interface BackoffOptions {
  /** The delay before the first re-establishment after a drop, in ms. (Default: 100) */
  readonly initialMs: number;
  /** No delay is longer than this, in ms. (Default: 3000) */
  readonly maxMs: number;
}

/** The defaults of BackoffOptions. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 3_000 };

/**
 * The delay before attempt number `attempt` (0 = the first re-establishment after a drop or a
 * failure): exponential from `initialMs`, capped at `maxMs`, with "equal jitter" — a uniform
 * value between half and all of it, so many processes that lost the same server do not return in
 * step. `random` returns a number in [0, 1) (Default: Math.random). Never throws.
 *
 * @example
 * backoffDelay(0, { initialMs: 100, maxMs: 3000 }); // 50..100
 * backoffDelay(9, { initialMs: 100, maxMs: 3000 }); // 1500..3000
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), 30);
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** exponent);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(ceiling / 2 + (ceiling / 2) * r);
}
