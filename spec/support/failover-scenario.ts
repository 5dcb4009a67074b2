/**
 * One failover (or switchover) under load, on a FailoverCluster, with a ledger of every write the
 * clients sent: 50 clients each insert their next row and read it back in a read-your-writes
 * scope, while the primary is killed (SIGKILL) or shut down cleanly, a standby is promoted, the
 * other standby follows it, and the old primary comes back as a standby (pg_rewind). Afterwards
 * the new primary is read directly: every acknowledged row must be there.
 */
import { performance } from 'node:perf_hooks';
import { ConnectionError, PoolTimeoutError, Repository, withReadYourWrites, type Database } from '../../lib/index.js';
import { withClient } from '../reliability/support/pg-probe.js';
import type { FailoverCluster } from './failover-cluster.js';
import type { ThrowawayCluster } from './postgres-cluster.js';

/** The ledger table, made by {@link createLedgerTable} on the first primary. */
export interface LedgerSchema {
  failoverLedger: { round: number; client: number; seq: number };
}

/** Creates the ledger table on `primary` (the standbys get it by replication). */
export async function createLedgerTable(primary: ThrowawayCluster): Promise<void> {
  await withClient(primary.url(), (client) =>
    client.query('create table failover_ledger (round int, client int, seq int, primary key (round, client, seq))'),
  );
}

/** What one round measured. */
export interface RoundFigures {
  /** What was done, for the report (`failover :5432 -> :5433`). */
  readonly label: string;
  /** Writes the Database acknowledged. */
  readonly acknowledged: number;
  /** Acknowledged rows missing on the new primary (target: none). */
  readonly lost: readonly string[];
  /** Writes that failed with ConnectionError.outcomeUnknown, and how many of them were written after all. */
  readonly outcomeUnknown: number;
  readonly unknownWritten: number;
  /** Writes that failed in a way that says nothing was written, and how many of them were (target: 0). */
  readonly failedKnown: number;
  readonly failedKnownWritten: number;
  /** Read-backs after an acknowledged write that did not find the row (target: 0). */
  readonly staleReads: number;
  readonly reads: number;
  /** From the start of the promotion to the first acknowledged write on the new primary. */
  readonly promotionToFirstWriteMs: number;
  /** From the stop of the old primary to the first acknowledged write on the new one. */
  readonly outageMs: number;
  /** Errors of a kind the scenario does not expect, by message. */
  readonly unexpected: readonly string[];
}

/** When a move stopped the old primary and promoted the new one, and where the new one is. */
export interface MoveTimes {
  /** performance.now() when stopping the old primary began. */
  readonly stopping: number;
  /**
   * performance.now() once no server accepted writes (the old primary gone or refusing): the
   * next acknowledged write is the new primary's.
   */
  readonly stopped: number;
  /** performance.now() when the promotion began (a command, or the HA manager's decision). */
  readonly promoting: number;
  /** A URL of the new primary, to read the ledger from directly. */
  readonly newPrimaryUrl: string;
}

/** Options of underLoad. */
export interface LoadOptions {
  readonly database: Database<LedgerSchema>;
  /** Tells this round's rows apart in the ledger. */
  readonly round: number;
  readonly label: string;
  readonly clients?: number;
  /** Load before the move, and after it has finished. (Default: 1500 ms each) */
  readonly beforeMs?: number;
  readonly afterMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `move` while 50 clients write ledger rows and read each back in a read-your-writes scope,
 * then reads the ledger on the new primary and returns the figures (the caller asserts on them).
 * @throws what `move` throws.
 */
export async function underLoad(options: LoadOptions, move: () => Promise<MoveTimes>): Promise<RoundFigures> {
  const { database, round } = options;
  const clients = options.clients ?? 50;
  const ledger = new Repository(database.db, 'failoverLedger', { primaryKey: ['round', 'client', 'seq'] });
  const acknowledged: { key: string; at: number }[] = [];
  const unknown: string[] = [];
  const failedKnown: string[] = [];
  const unexpected = new Set<string>();
  let staleReads = 0;
  let reads = 0;
  let stop = false;

  const client = async (id: number): Promise<void> => {
    for (let seq = 1; !stop; seq++) {
      const row = { round, client: id, seq };
      const key = `${round}/${id}/${seq}`;
      try {
        await withReadYourWrites(async () => {
          await ledger.create(row);
          acknowledged.push({ key, at: performance.now() });
          try {
            const found = await ledger.findById(row);
            reads++;
            if (found === undefined) staleReads++;
          } catch (error) {
            if (!(error instanceof ConnectionError || error instanceof PoolTimeoutError)) unexpected.add(String(error));
          }
        });
      } catch (error) {
        if (error instanceof ConnectionError && error.outcomeUnknown) unknown.push(key);
        else if (error instanceof ConnectionError || error instanceof PoolTimeoutError) failedKnown.push(key);
        else unexpected.add(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
        await sleep(20);
      }
    }
  };

  const running = Array.from({ length: clients }, (_, i) => client(i + 1));
  let times: MoveTimes;
  try {
    await sleep(options.beforeMs ?? 1_500);
    times = await move();
    await sleep(options.afterMs ?? 1_500);
  } finally {
    stop = true;
    await Promise.all(running);
  }

  const rows = await withClient(times.newPrimaryUrl, (c) =>
    c.query<{ key: string }>(
      "select round || '/' || client || '/' || seq as key from failover_ledger where round = $1",
      [round],
    ),
  );
  const present = new Set(rows.rows.map((r) => r.key));
  const firstWrite = Math.min(...acknowledged.filter((a) => a.at >= times.stopped).map((a) => a.at));
  return {
    label: options.label,
    acknowledged: acknowledged.length,
    lost: acknowledged.filter((a) => !present.has(a.key)).map((a) => a.key),
    outcomeUnknown: unknown.length,
    unknownWritten: unknown.filter((key) => present.has(key)).length,
    failedKnown: failedKnown.length,
    failedKnownWritten: failedKnown.filter((key) => present.has(key)).length,
    staleReads,
    reads,
    promotionToFirstWriteMs: Math.round(firstWrite - times.promoting),
    outageMs: Math.round(firstWrite - times.stopping),
    unexpected: [...unexpected],
  };
}

/** Options of failoverRound. */
export interface RoundOptions extends Omit<LoadOptions, 'label'> {
  readonly cluster: FailoverCluster;
  readonly kind: 'failover' | 'switchover';
  readonly from: ThrowawayCluster;
  readonly to: ThrowawayCluster;
  /** The other standby: follows `to`, and becomes its synchronous standby. */
  readonly other: ThrowawayCluster;
  /** cluster_name of `other` (its application_name as a standby). */
  readonly otherName: string;
}

/**
 * One round on a FailoverCluster under load: the primary `from` is killed (SIGKILL) or shut down
 * cleanly (switchover), `to` promoted, `other` repointed and made synchronous, `from` rewound
 * into a standby of `to`.
 * @throws what the cluster's moves throw (a server that does not start, say).
 */
export function failoverRound(options: RoundOptions): Promise<RoundFigures> {
  const { cluster, kind, from, to, other, otherName } = options;
  return underLoad({ ...options, label: `${kind} :${from.port} -> :${to.port}` }, async () => {
    const stopping = performance.now();
    if (kind === 'failover') await cluster.kill(from);
    else await from.stop('fast');
    const stopped = performance.now();
    const promoting = performance.now();
    await cluster.promote(to);
    await cluster.follow(other, to);
    await cluster.setSynchronous(to, otherName);
    await cluster.rejoin(from, to);
    return { stopping, stopped, promoting, newPrimaryUrl: to.url() };
  });
}

/** One line of figures, for the spec's output and the note. */
export function describeRound(figures: RoundFigures): string {
  return (
    `${figures.label}: ${figures.acknowledged} writes acknowledged, ` +
    `${figures.lost.length} lost; outcome unknown ${figures.outcomeUnknown} (${figures.unknownWritten} written); ` +
    `failed (known) ${figures.failedKnown} (${figures.failedKnownWritten} written); stale reads ${figures.staleReads} of ${figures.reads}; ` +
    `promotion -> first write ${figures.promotionToFirstWriteMs} ms, outage ${figures.outageMs} ms`
  );
}
