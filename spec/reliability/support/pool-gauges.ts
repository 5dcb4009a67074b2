/**
 * Samples a Database's pool gauges (status().pool) while a phase runs: the most connections
 * open at once, the longest queue of callers, and whether the pool ever went above its maximum.
 */
import type { Database } from '../../../lib/index.js';

/** What the sampler saw. */
export interface PoolGauges {
  readonly samples: number;
  /** Most connections open at once. */
  readonly maxTotal: number;
  /** Longest queue of callers waiting for a connection. */
  readonly maxWaiting: number;
  /** The pool's maximum. */
  readonly max: number;
  /** Samples with more connections open than the maximum. */
  readonly overMax: number;
}

/** A running sampler. */
export interface PoolSampler {
  /** Stops sampling and returns the gauges. */
  stop(): PoolGauges;
}

/**
 * Samples `database.status().pool` every `everyMs`.
 *
 * @example
 * const sampler = samplePool(database);
 * await load();
 * expect(sampler.stop().overMax).to.equal(0);
 */
export function samplePool(database: Database<unknown>, everyMs = 20): PoolSampler {
  let samples = 0;
  let maxTotal = 0;
  let maxWaiting = 0;
  let overMax = 0;
  let max = 0;
  const sample = (): void => {
    const pool = database.status().pool;
    samples++;
    max = pool.max;
    maxTotal = Math.max(maxTotal, pool.total);
    maxWaiting = Math.max(maxWaiting, pool.waiting);
    if (pool.total > pool.max) overMax++;
  };
  sample();
  const timer = setInterval(sample, everyMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return { samples, maxTotal, maxWaiting, max, overMax };
    },
  };
}
