/**
 * How long the reliability phases run. Under `npm test` they are short (the whole suite takes a
 * few minutes); `npm run soak` sets SOAK_SECONDS, which becomes the length of the load phase and
 * scales every other phase with it (more rounds of each fault, the same checks).
 */

/** The phase lengths of one run. */
export interface Phases {
  /** Whether SOAK_SECONDS is set. */
  readonly soak: boolean;
  /** SOAK_SECONDS / 20, at least 1: how many times longer than under `npm test` everything runs. */
  readonly scale: number;
  /** The steady load phase. (20 s, or SOAK_SECONDS) */
  readonly loadMs: number;
  /** Rounds of each fault (and of pool exhaustion). (1, or scale rounded up) */
  readonly faultRounds: number;
  /** Load before the first fault. */
  readonly warmupMs: number;
  /** Load after each recovery, before the next round or the end. */
  readonly afterMs: number;
}

const BASE_LOAD_SECONDS = 20;

/**
 * The phases for this run, from SOAK_SECONDS (unset: the `npm test` lengths).
 *
 * @example
 * const { loadMs, faultRounds } = phases();
 * @throws Error when SOAK_SECONDS is set but is not a positive integer.
 */
export function phases(env: NodeJS.ProcessEnv = process.env): Phases {
  const raw = env['SOAK_SECONDS']?.trim();
  let seconds = BASE_LOAD_SECONDS;
  if (raw !== undefined && raw !== '') {
    if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`SOAK_SECONDS=${raw} must be a positive integer`);
    seconds = Number(raw);
  }
  const soak = raw !== undefined && raw !== '';
  const scale = Math.max(1, seconds / BASE_LOAD_SECONDS);
  return {
    soak,
    scale,
    loadMs: seconds * 1000,
    faultRounds: Math.ceil(scale),
    warmupMs: 3_000,
    afterMs: 4_000,
  };
}

/**
 * A mocha timeout for a phase of `ms` plus `slackMs` for setup and checks.
 *
 * @example
 * this.timeout(timeoutFor(phases().loadMs, 60_000));
 */
export function timeoutFor(ms: number, slackMs: number): number {
  return Math.ceil(ms + slackMs);
}
