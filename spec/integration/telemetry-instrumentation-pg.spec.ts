/**
 * Findings: what @opentelemetry/instrumentation-pg reports of the statements this package's pg
 * driver sends, and how the package's own spans sit beside it under `telemetry.clientSpans`.
 * instrumentation-pg patches pg's prototype for the whole process, so each case runs in a child
 * process (fixtures/instrumentation-pg-probe.ts) on a scratch database: a table create, a
 * Repository.create, 40 Repository.findById calls in waves of 8 concurrent ones with pipelining on,
 * and one withTransaction with two statements, on a pool of one connection. (One, so that the
 * transaction's BEGIN is batched with its first statement in every run: the driver batches it
 * only when that statement is unnamed or already prepared on the connection, as the create made
 * it here; on a connection that has not prepared it, BEGIN goes through pg's Client.query on its
 * own, and instrumentation-pg reports it.)
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SpanKind } from '@opentelemetry/api';
import { expect } from 'chai';
import { createScratchDatabase } from '../support/test-server.js';

const run = promisify(execFile);
const fixture = new URL('./fixtures/instrumentation-pg-probe.ts', import.meta.url).pathname;

const PG_SCOPE = '@opentelemetry/instrumentation-pg';
const OUR_SCOPE = 'kysely-repository';
/** The statement pg's self-test (lib/connection/pg/pg-internals.ts) sends over an in-memory wire. */
const SELF_TEST_TEXT = 'select $1::text as v';
const BEGIN_TEXT = /^\s*(?:begin|start transaction)\b/i;

/** A finished span, as the fixture prints it. */
interface ProbeSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly scope: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly startMs: number;
  readonly endMs: number;
  /** Exact (startMs and endMs of a span the SDK timed itself are placed by Date.now()). */
  readonly durationMs: number;
  readonly attributes: Record<string, unknown>;
}

/** What the fixture prints. */
interface ProbeOutcome {
  readonly clientSpans: boolean | 'auto';
  readonly poolSize: number;
  readonly reads: number;
  /** Whether pg.Client.prototype.query was wrapped (`__wrapped`). */
  readonly wrapped: boolean;
  readonly internals: { readonly batchedBegin: boolean; readonly pipelineFlag: boolean };
  /** database.status().queries.succeeded at the end. */
  readonly succeeded: number;
  readonly failed: number;
  readonly committed: number;
  readonly phases: readonly { readonly name: string; readonly spanId: string; readonly statements: number }[];
  readonly spans: readonly ProbeSpan[];
  readonly logged: { readonly error: string[]; readonly warn: string[]; readonly info: string[] };
}

/** One read of the find phase: its repository span, and the statement spans under it. */
interface Read {
  readonly span: ProbeSpan;
  /** Whether it checked a connection out (else it was pipelined on one busy with other reads). */
  readonly ownConnection: boolean;
  readonly pg: ProbeSpan | undefined;
  readonly ours: ProbeSpan | undefined;
}

/** A probe's outcome with the views the findings read. */
class Probe {
  readonly #byId: Map<string, ProbeSpan>;

  constructor(
    readonly outcome: ProbeOutcome,
    /** The scratch database's name (instrumentation-pg's db.namespace). */
    readonly database: string,
  ) {
    this.#byId = new Map(outcome.spans.map((span) => [span.spanId, span]));
  }

  get spans(): readonly ProbeSpan[] {
    return this.outcome.spans;
  }

  parent(span: ProbeSpan): ProbeSpan | undefined {
    return span.parentSpanId === undefined ? undefined : this.#byId.get(span.parentSpanId);
  }

  children(span: ProbeSpan): ProbeSpan[] {
    return this.spans.filter((child) => child.parentSpanId === span.spanId);
  }

  /** The phase (`create table`, `create`, `find`, `transaction`) a span was made in. */
  phaseOf(span: ProbeSpan): string | undefined {
    for (let at: ProbeSpan | undefined = span; at; at = this.parent(at)) {
      if (at.scope === 'probe') return at.name.replace(/^probe /, '');
    }
    return undefined;
  }

  /** instrumentation-pg's statement spans on the probe's database. */
  pgStatements(phase?: string): ProbeSpan[] {
    return this.spans.filter(
      (span) =>
        span.scope === PG_SCOPE &&
        span.name.startsWith('pg.query') &&
        span.attributes['db.namespace'] === this.database &&
        (phase === undefined || this.phaseOf(span) === phase),
    );
  }

  /** The package's own statement spans (CLIENT, with db.query.text). */
  ourStatements(phase?: string): ProbeSpan[] {
    return this.spans.filter(
      (span) =>
        span.scope === OUR_SCOPE &&
        span.kind === SpanKind.CLIENT &&
        (phase === undefined || this.phaseOf(span) === phase),
    );
  }

  named(scope: string, name: string | RegExp): ProbeSpan[] {
    return this.spans.filter(
      (span) => span.scope === scope && (typeof name === 'string' ? span.name === name : name.test(span.name)),
    );
  }

  /** The 40 reads of the find phase. */
  reads(): Read[] {
    return this.named(OUR_SCOPE, /^Repository\.findById /)
      .filter((span) => this.phaseOf(span) === 'find')
      .map((span) => {
        const children = this.children(span);
        return {
          span,
          // instrumentation-pg's checkout span, or the package's (which then holds instrumentation-pg's)
          ownConnection: children.some(
            (child) => child.name === 'pg-pool.connect' || child.name === 'acquire connection',
          ),
          pg: children.find((child) => child.scope === PG_SCOPE && child.name.startsWith('pg.query')),
          ours: children.find((child) => child.scope === OUR_SCOPE && child.kind === SpanKind.CLIENT),
        };
      });
  }

  statementsCounted(phase: string): number {
    const found = this.outcome.phases.find((p) => p.name === phase);
    if (!found) throw new Error(`the probe ran no phase ${phase}`);
    return found.statements;
  }
}

/** A span's db.query.text ('' without one). */
const textOf = (span: ProbeSpan): string => {
  const text = span.attributes['db.query.text'];
  return typeof text === 'string' ? text : '';
};
const sum = (values: readonly number[]): number => values.reduce((total, value) => total + value, 0);
const round = (ms: number): number => Math.round(ms * 1000) / 1000;

describe('OpenTelemetry beside @opentelemetry/instrumentation-pg (child processes, real PostgreSQL)', function () {
  this.timeout(120_000);
  const scratch: { drop(): Promise<void> }[] = [];
  let auto: Probe;
  let both: Probe;

  /** Runs the fixture with `telemetry.clientSpans: mode` on a scratch database of its own. */
  async function probe(mode: 'auto' | 'true'): Promise<Probe> {
    const database = await createScratchDatabase('kr_otel_pg');
    scratch.push(database);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', fixture], {
      env: { ...process.env, PROBE_DATABASE_URL: database.url, PROBE_CLIENT_SPANS: mode, PROBE_POOL_SIZE: '1' },
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    const outcome = JSON.parse(stdout.trim().split('\n').at(-1)!) as ProbeOutcome;
    return new Probe(outcome, decodeURIComponent(new URL(database.url).pathname.slice(1)));
  }

  before(async () => {
    // one after the other: the timings compared below should not share the CPU with another probe
    auto = await probe('auto');
    both = await probe('true');
  });

  after(async () => {
    for (const database of scratch.splice(0)) await database.drop();
  });

  it('runs each probe as intended: pg wrapped by instrumentation-pg, the workload done, BEGIN batched, reads pipelined', () => {
    for (const { outcome } of [auto, both]) {
      expect(outcome.wrapped, 'pg.Client.prototype.query.__wrapped').to.equal(true);
      expect(outcome.internals.batchedBegin && outcome.internals.pipelineFlag).to.equal(true);
      expect(outcome.phases.map((phase) => phase.name)).to.deep.equal([
        'create table',
        'create',
        'find',
        'transaction',
      ]);
      expect(outcome.failed).to.equal(0);
      expect(outcome.committed).to.equal(1);
      expect(outcome.logged.error.concat(outcome.logged.warn)).to.deep.equal([]);
    }
    expect(auto.outcome.clientSpans).to.equal('auto');
    expect(both.outcome.clientSpans).to.equal(true);
    // reads that found the one connection busy went out behind the statements on it, without a checkout
    const pipelined = both.reads().filter((read) => !read.ownConnection).length;
    expect(pipelined, 'reads pipelined on a busy connection (of 40)').to.be.at.least(5);
  });

  describe('finding 1: what instrumentation-pg reports of the statements this driver sends', () => {
    it("reports every statement the package counted except the BEGIN batched with a transaction's first statement (46 of 47: the table create, both statements of the create, all 40 reads, pipelined or not, 3 of the transaction's 4)", () => {
      for (const probe of [auto, both]) {
        const { outcome } = probe;
        expect(probe.pgStatements(), 'instrumentation-pg statement spans').to.have.length(outcome.succeeded - 1);
        for (const phase of ['create table', 'create', 'find']) {
          expect(probe.pgStatements(phase), phase).to.have.length(probe.statementsCounted(phase));
        }
        // the create reads the table's columns, then inserts; the transaction is BEGIN, INSERT,
        // SELECT, COMMIT, and its BEGIN never went through pg's Client.query
        expect(outcome.phases.map((phase) => phase.statements)).to.deep.equal([1, 2, outcome.reads, 4]);
        expect(probe.pgStatements('transaction')).to.have.length(3);
      }
    });

    it('does not report the BEGIN sent in one batch with the first statement; the package does (clientSpans: true)', () => {
      for (const probe of [auto, both]) {
        const texts = probe.pgStatements().map(textOf);
        expect(texts.filter((text) => BEGIN_TEXT.test(text))).to.deep.equal([]);
        // the transaction's spans: its first statement (whose span covers BEGIN's trip too), the read, COMMIT
        const transaction = probe.pgStatements('transaction').map((span) => span.attributes['db.query.text']);
        expect(transaction[0]).to.match(/^insert into "probe_items"/);
        expect(transaction[1]).to.match(/^select "id", "name" from "probe_items"/);
        expect(transaction[2]).to.equal('commit');
      }
      const ours = both.ourStatements('transaction').map((span) => span.name);
      expect(ours).to.deep.equal(['BEGIN', 'INSERT probe_items', 'SELECT probe_items', 'COMMIT']);
    });

    it("also reports one statement that never reached the server: the driver's self-test of pg over an in-memory wire", () => {
      for (const probe of [auto, both]) {
        const elsewhere = probe.spans.filter(
          (span) => span.scope === PG_SCOPE && span.name.startsWith('pg.query') && !probe.pgStatements().includes(span),
        );
        expect(
          elsewhere.map((span) => [span.name, span.attributes['db.query.text'], span.attributes['db.namespace']]),
        ).to.deep.equal([['pg.query:kr_probe', SELF_TEST_TEXT, undefined]]);
      }
    });

    it("times a pipelined statement from when it was queued: its span includes the wait behind the statements ahead of it, the package's (on the wire) does not", () => {
      const reads = both.reads();
      expect(reads).to.have.length(both.outcome.reads);
      for (const read of reads) expect(read.pg && read.ours, 'both report each read').to.not.equal(undefined);
      const pgMs = (read: Read): number => read.pg!.durationMs;
      const ourMs = (read: Read): number => read.ours!.durationMs;
      const own = reads.filter((read) => read.ownConnection);
      const pipelined = reads.filter((read) => !read.ownConnection);
      // a read on a connection of its own: the package times it from before pg's query() to after
      // the answer, so its span holds instrumentation-pg's
      for (const read of own)
        expect(pgMs(read), 'own connection: instrumentation-pg ≤ package').to.be.at.most(ourMs(read) + 0.01);
      // a pipelined read: instrumentation-pg times it from query(), while it waits behind the
      // statements ahead; the package from when the one ahead of it was answered
      const summary =
        `${pipelined.length} pipelined reads: instrumentation-pg ${round(sum(pipelined.map(pgMs)))} ms in all, ` +
        `the package ${round(sum(pipelined.map(ourMs)))} ms`;
      // how much longer depends on how many statements were ahead (1.9-550x in all, seen here): never shorter
      // than the package's beyond the few µs the package counts before pg's query(), and longer in all
      expect(sum(pipelined.map(pgMs)), summary).to.be.above(1.3 * sum(pipelined.map(ourMs)));
      const shorter = pipelined.filter((read) => pgMs(read) < ourMs(read) - 0.25);
      expect(shorter.length, `${shorter.length} of ${summary}: instrumentation-pg's shorter`).to.equal(0);
    });
  });

  describe("finding 2: clientSpans 'auto' (the default) with instrumentation-pg active", () => {
    it('reports no statement twice: no CLIENT span of its own (none with db.query.text), no checkout span', () => {
      expect(auto.ourStatements()).to.deep.equal([]);
      expect(auto.spans.filter((span) => span.scope === OUR_SCOPE && 'db.query.text' in span.attributes)).to.deep.equal(
        [],
      );
      expect(auto.named(OUR_SCOPE, 'acquire connection')).to.deep.equal([]);
      // pg reports each statement it was given once, and each checkout
      expect(auto.pgStatements()).to.have.length(auto.outcome.succeeded - 1);
      expect(auto.named(PG_SCOPE, 'pg-pool.connect').length).to.be.above(0);
    });

    it('logs once, at info, that its statement and connection spans are off', () => {
      expect(auto.outcome.logged.info).to.have.length(1);
      expect(auto.outcome.logged.info[0]).to.match(/instrumentation-pg reports each statement/);
      expect(auto.outcome.logged.info[0]).to.match(/clientSpans: 'auto'/);
    });

    it("keeps its transaction and repository spans, which parent instrumentation-pg's statement spans", () => {
      expect(auto.named(OUR_SCOPE, 'transaction')).to.have.length(1);
      expect(auto.named(OUR_SCOPE, 'transaction attempt')).to.have.length(1);
      expect(auto.named(OUR_SCOPE, /^Repository\.create /)).to.have.length(2);
      expect(auto.named(OUR_SCOPE, /^Repository\.findById /)).to.have.length(auto.outcome.reads + 1);
      for (const read of auto.reads()) expect(read.pg, 'each read has its statement span').to.not.equal(undefined);
      const commit = auto.pgStatements('transaction').find((span) => span.attributes['db.query.text'] === 'commit');
      expect(commit && auto.parent(commit)?.name).to.equal('transaction attempt');
    });

    it('so the BEGIN batched with the first statement is reported by neither', () => {
      const begins = auto.spans.filter((span) => BEGIN_TEXT.test(textOf(span)));
      expect(begins).to.deep.equal([]);
      expect(auto.statementsCounted('transaction') - auto.pgStatements('transaction').length).to.equal(1);
    });
  });

  describe('finding 3: clientSpans: true with instrumentation-pg active (the opt-in that doubles)', () => {
    it('reports each statement pg was given twice, once per scope with the same text and parent', () => {
      const ours = both.ourStatements();
      expect(ours, 'the package reports every statement it counted').to.have.length(both.outcome.succeeded);
      const pgSpans = both.pgStatements();
      expect(pgSpans).to.have.length(both.outcome.succeeded - 1);
      const twins = pgSpans.filter((pgSpan) =>
        ours.some((our) => our.parentSpanId === pgSpan.parentSpanId && textOf(our) === textOf(pgSpan)),
      );
      expect(twins, 'statements reported by both').to.have.length(pgSpans.length);
    });

    it('reports each checkout twice (acquire connection, pg-pool.connect), the first one included', () => {
      const acquires = both.named(OUR_SCOPE, 'acquire connection');
      const connects = both.named(PG_SCOPE, 'pg-pool.connect');
      // the package's checkout span is active while pg-pool connects: instrumentation-pg's is its child
      const lone = connects.filter((connect) => !acquires.some((acquire) => acquire.spanId === connect.parentSpanId));
      expect(lone, 'checkouts only instrumentation-pg reports').to.deep.equal([]);
      expect(acquires).to.have.length(connects.length);
    });

    it('logs nothing at info', () => {
      expect(both.outcome.logged.info).to.deep.equal([]);
    });
  });
});
