/**
 * One fault injected into a running load, and the rules its outcome is judged by:
 * - every call in flight when the fault hit settles within a bound (no hang);
 * - service comes back: a call started after the component is back succeeds within a bound;
 * - a ConnectionError is accepted only from a call that ended after the fault and started before
 *   service was back (plus a short grace); every other call must succeed.
 */
import type { LoadDriver, OpRecord } from './load-driver.js';

/** What one fault did to the load. */
export interface FaultRound {
  /** performance.now() when the fault was injected. */
  readonly faultAt: number;
  /** When the faulty component was back (the server restarted, sshd listening again). */
  readonly backAt: number;
  /** When the first call started after backAt succeeded; undefined when none did within the bound. */
  readonly recoveredAt: number | undefined;
  /** Calls in flight at faultAt. */
  readonly inFlight: number;
  /** Of those, how many failed with a ConnectionError. */
  readonly inFlightConnectionErrors: number;
  /** Of those, the ones still unsettled at the bound. */
  readonly unsettled: readonly OpRecord[];
  /** How long after faultAt the last of them settled (ms). */
  readonly settledWithinMs: number;
}

/** The window in which a ConnectionError is an acceptable answer. */
export interface FaultWindow {
  readonly faultAt: number;
  /** recoveredAt (or backAt + recovery bound) plus the grace. */
  readonly until: number;
}

/** Bounds of a fault round. */
export interface FaultBounds {
  /** In-flight calls must settle within this long after the fault. */
  readonly settleMs: number;
  /** Service must be back within this long after the component is. */
  readonly recoveryMs: number;
  /** After recovery, calls may still meet a connection broken by the fault for this long. */
  readonly graceMs: number;
}

/** The bounds this suite states: 10 s to settle, 10 s to recover, 1 s of grace. */
export const FAULT_BOUNDS: FaultBounds = { settleMs: 10_000, recoveryMs: 10_000, graceMs: 1_000 };

/** Polls until every record has settled or `deadline` (performance.now()) passes; returns the unsettled ones. */
async function settleBy(records: readonly OpRecord[], deadline: number): Promise<OpRecord[]> {
  for (;;) {
    const open = records.filter((r) => r.endedAt === undefined);
    if (open.length === 0 || performance.now() >= deadline) return open;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Injects a fault into the running `driver`: `inject` breaks the component and brings it back
 * (resolving once it is back), then the round waits for the in-flight calls to settle and for
 * service to return, within `bounds`.
 *
 * @example
 * const round = await faultRound(driver, async () => { await cluster.stop('immediate'); await cluster.start(); });
 * expect(round.unsettled).to.deep.equal([]);
 */
export async function faultRound(
  driver: LoadDriver,
  inject: () => Promise<void>,
  bounds: FaultBounds = FAULT_BOUNDS,
): Promise<FaultRound> {
  const faultAt = performance.now();
  const inFlight = driver.inFlight();
  await inject();
  const backAt = performance.now();
  const unsettled = await settleBy(inFlight, faultAt + bounds.settleMs);
  const recoveredAt = await driver.successAfter(backAt, bounds.recoveryMs);
  const settled = inFlight.filter((r) => r.endedAt !== undefined);
  return {
    faultAt,
    backAt,
    recoveredAt,
    inFlight: inFlight.length,
    inFlightConnectionErrors: settled.filter((r) => r.connection).length,
    unsettled,
    settledWithinMs: Math.max(0, ...settled.map((r) => (r.endedAt ?? faultAt) - faultAt)),
  };
}

/** The window of a round in which ConnectionErrors are acceptable. */
export function windowOf(round: FaultRound, bounds: FaultBounds = FAULT_BOUNDS): FaultWindow {
  const recovered = round.recoveredAt ?? round.backAt + bounds.recoveryMs;
  return { faultAt: round.faultAt, until: recovered + bounds.graceMs };
}

/**
 * The failed calls no rule accepts: anything but an expected conflict, except a ConnectionError
 * that ended after a fault and started before that fault's window closed.
 *
 * @example
 * expect(unexpectedErrors(driver, rounds.map((r) => windowOf(r)))).to.deep.equal([]);
 */
export function unexpectedErrors(driver: LoadDriver, windows: readonly FaultWindow[]): OpRecord[] {
  return driver.errors.filter(
    (r) =>
      !r.expected &&
      !(r.connection && windows.some((w) => (r.endedAt ?? Infinity) >= w.faultAt && r.startedAt < w.until)),
  );
}

/** A few failed calls, described for an assertion message. */
export function describeRecords(records: readonly OpRecord[], limit = 10): string {
  const shown = records
    .slice(0, limit)
    .map(
      (r) =>
        `${r.kind} (client ${r.client}, ${Math.round(r.startedAt)}..${r.endedAt === undefined ? 'unsettled' : Math.round(r.endedAt)} ms): ` +
        `${r.error ?? 'no error'}: ${r.message ?? ''}`,
    );
  return shown.join('\n') + (records.length > limit ? `\n… and ${records.length - limit} more` : '');
}
