/**
 * The one line of figures each reliability spec prints, in the same shape for every spec so the
 * lines can be copied to the README: operations run, errors by class, acknowledged writes, lost
 * writes, hostile inputs tried, time taken.
 */

/** The figures of one spec. */
export interface Figures {
  /** The spec, in a few words. */
  readonly spec: string;
  readonly operations: number;
  /** Error counts by class name. */
  readonly errorsByClass: Readonly<Record<string, number>>;
  readonly acknowledgedWrites: number;
  /** Failed writes, which may or may not have landed (not asserted on). */
  readonly unconfirmedWrites?: number;
  readonly lostWrites: number;
  readonly hostileInputs: number;
  readonly seconds: number;
  /** Anything else worth a number (pool gauges, fault timings). */
  readonly notes?: readonly string[];
}

function errors(counts: Readonly<Record<string, number>>): string {
  const entries = Object.entries(counts).sort(([, a], [, b]) => b - a);
  return entries.length === 0 ? 'none' : entries.map(([name, n]) => `${name} ${n}`).join(', ');
}

/**
 * The summary line for `figures`.
 *
 * @example
 * formatFigures({ spec: 'load', operations: 1, errorsByClass: {}, acknowledgedWrites: 1, lostWrites: 0, hostileInputs: 0, seconds: 1 });
 */
export function formatFigures(figures: Figures): string {
  const parts = [
    `[reliability] ${figures.spec}`,
    `operations ${figures.operations}`,
    `errors ${errors(figures.errorsByClass)}`,
    `acknowledged writes ${figures.acknowledgedWrites}`,
    ...(figures.unconfirmedWrites === undefined ? [] : [`unconfirmed writes ${figures.unconfirmedWrites}`]),
    `lost writes ${figures.lostWrites}`,
    `hostile inputs ${figures.hostileInputs}`,
    `${figures.seconds.toFixed(1)} s`,
    ...(figures.notes ?? []),
  ];
  return parts.join(' | ');
}

/**
 * Prints the summary line, indented to sit inside mocha's spec output.
 *
 * @example
 * printFigures(figures);
 */
export function printFigures(figures: Figures): void {
  process.stdout.write(`      ${formatFigures(figures)}\n`);
}
