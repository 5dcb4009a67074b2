import { expect } from 'chai';
import { metrics, SpanKind, SpanStatusCode, trace, type ProxyTracerProvider } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { createDatabase, loadConfig, migrateToLatest, silentLogger, type Database, type DB } from '../../lib/index.js';
import { batch } from '../../examples/batch.js';
import { lifecycle } from '../../examples/lifecycle.js';
import { maintenance } from '../../examples/maintenance.js';
import { startOpenTelemetry, telemetry } from '../../examples/telemetry.js';
import { createScratchDatabase } from '../support/test-server.js';

// Every example runs here, on a server and on the embedded engine, so none of them rots.
for (const engine of ['postgres', 'pglite'] as const) {
  describe(`examples (${engine === 'postgres' ? 'real PostgreSQL' : 'embedded PGlite'})`, () => {
    let database: Database<DB>;
    let drop: () => Promise<void> = () => Promise.resolve();

    before(async function () {
      this.timeout(60_000);
      let url = 'pglite://';
      if (engine === 'postgres') {
        const scratch = await createScratchDatabase('kr_examples');
        url = scratch.url;
        drop = scratch.drop;
      }
      database = createDatabase<DB>({
        config: loadConfig({ DATABASE_URL: url }, { envFile: '/dev/null' }),
        logger: silentLogger,
      });
      await migrateToLatest(database.db);
    });

    after(async () => {
      await database.close();
      await drop();
    });

    it('lifecycle: created, fetched, updated, verified, listed, stats, pool status', async () => {
      const lines: string[] = [];
      await lifecycle(database, (line) => lines.push(line), { bcryptCost: 4 });
      expect(lines.map((l) => l.split(':')[0])).to.deep.equal([
        'created',
        'fetched',
        'updated',
        'verified',
        'listed',
        'stats',
        'pool',
      ]);
      expect(lines[0]).to.match(/^created: +#1 john_doe_\w+ <john_doe_\w+@example\.com> active=true$/);
      expect(lines[2]).to.match(/email is now john_doe_\w+\.new@example\.com$/);
      expect(lines[3]).to.contain('right password -> user #1, wrong password -> refused');
      expect(lines[5]).to.contain('total 1, active 1, inactive 0');
      expect(lines[6]).to.contain(`engine ${engine}`);
      expect(lines.join('\n')).not.to.match(/\$2[aby]\$/);
    });

    it('batch: three users in one transaction, then a batch failing on its third keeps none', async () => {
      const lines: string[] = [];
      await batch(database, (line) => lines.push(line), { bcryptCost: 4 });
      expect(lines[0]).to.match(/^batch 1: +created #\d+ alice_\w+, #\d+ bob_\w+, #\d+ carol_\w+ in one transaction$/);
      expect(lines[1]).to.match(/failed on its third user: Username 'alice_\w+' already exists$/);
      expect(lines[2]).to.contain('0 of its users kept');
    });

    it('maintenance: table info, VACUUM ANALYZE, pool status', async () => {
      const lines: string[] = [];
      await maintenance(database, (line) => lines.push(line));
      expect(lines[0]).to.match(/^table: +users: 4 rows/);
      expect(lines[2]).to.contain('primary (id)').and.contain('users_email_lower_key');
      expect(lines[3]).to.match(/last vacuum \d{4}-.*last analyze \d{4}-.*estimate now 4$/);
      expect(lines[4]).to.contain(`engine ${engine}`);
    });

    it('telemetry: the application span over repository calls, a transaction and its savepoints', async () => {
      const spanExporter = new InMemorySpanExporter();
      const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
      const sdk = startOpenTelemetry({ spans: spanExporter, metrics: metricExporter });
      const lines: string[] = [];
      let spans: ReadableSpan[];
      let metricNames: string[];
      try {
        await telemetry(database, (line) => lines.push(line), { bcryptCost: 4 });
        await sdk.flush();
        spans = spanExporter.getFinishedSpans().slice();
        metricNames = metricExporter
          .getMetrics()
          .flatMap((resource) => resource.scopeMetrics.flatMap((scope) => scope.metrics))
          .map((metric) => metric.descriptor.name);
      } finally {
        // the globals go back, so the specs after this one run without an SDK
        await sdk.shutdown();
      }
      expect((trace.getTracerProvider() as ProxyTracerProvider).getDelegate()).not.to.be.instanceOf(TracerProvider);
      expect(metrics.getMeterProvider()).not.to.be.instanceOf(MeterProvider);

      expect(lines.map((l) => l.split(':')[0])).to.deep.equal(['created', 'savepoint', 'committed', 'trace']);
      const root = spans.find((span) => span.name === 'sign up')!;
      expect(root.parentSpanContext).to.equal(undefined);
      expect(lines[3]).to.contain(root.spanContext().traceId);
      const inTrace = spans.filter((span) => span.spanContext().traceId === root.spanContext().traceId);
      const parentOf = (span: ReadableSpan): ReadableSpan | undefined =>
        inTrace.find((other) => other.spanContext().spanId === span.parentSpanContext?.spanId);
      const named = (name: string): ReadableSpan[] => inTrace.filter((span) => span.name === name);

      const names = new Set(inTrace.map((span) => span.name));
      for (const name of [
        'UserRepository.createUser users',
        'UserRepository.updateUser users',
        'Repository.count users',
        'transaction',
        'transaction attempt',
        'savepoint',
        'INSERT users',
        ...(engine === 'postgres' ? ['acquire connection'] : []),
      ]) {
        expect([...names], name).to.include(name);
      }
      const [transaction] = named('transaction');
      expect(parentOf(transaction!)).to.equal(root);
      expect(transaction!.attributes['kysely_repository.transaction.outcome']).to.equal('committed');
      const [attempt] = named('transaction attempt');
      expect(parentOf(attempt!)).to.equal(transaction);
      expect(attempt!.attributes['kysely_repository.transaction.outcome']).to.equal('committed');
      // the nested call on a taken username: its savepoint rolled back, the SQLSTATE as status
      const rolledBack = named('savepoint').filter(
        (span) => span.attributes['kysely_repository.transaction.outcome'] === 'rolled back',
      );
      expect(rolledBack).not.to.be.empty;
      expect(rolledBack[0]!.status).to.deep.equal({ code: SpanStatusCode.ERROR, message: '23505' });
      const refused = named('INSERT users').find((span) => span.status.code === SpanStatusCode.ERROR)!;
      expect(refused.kind).to.equal(SpanKind.CLIENT);
      expect(refused.attributes).to.include({ 'db.response.status_code': '23505', 'db.collection.name': 'users' });
      // every span of the trace descends from the application's
      for (const span of inTrace) {
        let at: ReadableSpan | undefined = span;
        while (at !== undefined && at !== root) at = parentOf(at);
        expect(at, span.name).to.equal(root);
      }
      // no username, e-mail, password or server message in any attribute or status
      const username = /#\d+ (\S+)/.exec(lines[0]!)![1]!;
      const exported = JSON.stringify(spans.map((span) => [span.name, span.attributes, span.status]));
      for (const secret of [username, '@example.com', 'telemetry-1', 'telemetry-2', 'already exists']) {
        expect(exported).not.to.contain(secret);
      }
      expect(metricNames).to.include.members(['db.client.operation.duration', 'db.client.connection.count']);
    });
  });
}
