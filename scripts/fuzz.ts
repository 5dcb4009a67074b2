/**
 * `npm run fuzz`: the differential test (spec/differential) over the full configuration matrix
 * with a larger budget and fresh seeds, on a database of its own on the spec server
 * (TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432, else a throwaway cluster).
 *
 * Environment:
 *   FUZZ_RUNS    property runs per configuration (default 100)
 *   FUZZ_OPS     operations per run, at most (default 150)
 *   FUZZ_SEED    the seed (default: random, printed); with FUZZ_PATH, replays one counterexample
 *   FUZZ_PATH    fast-check's path of a counterexample (from a failure report)
 *   FUZZ_CONFIG  run only this configuration (its id, as printed), or those containing this text
 *   FUZZ_SHRINK_MS  how long shrinking may go on after a failure (default 120000)
 *   FUZZ_VERBOSE print what each configuration ran (operations by kind, faults, runs by key, time)
 *   FUZZ_DISABLE comma-separated generator features to switch off, to look past a known difference
 *                (see FEATURES in spec/differential/support/values.ts)
 * Exits 1 when any configuration found a difference.
 */
import { configurationId, fullMatrix } from '../spec/differential/support/matrix.js';
import { runConfiguration, type ConfigurationReport } from '../spec/differential/support/runner.js';
import { Features } from '../spec/differential/support/values.js';
import {
  createScratchDatabase,
  setUpTestServer,
  tearDownTestServer,
  tearDownTestServerSync,
} from '../spec/support/test-server.js';

function intFrom(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be an integer, not ${raw}`);
  return value;
}

/** Tears the test server down once: a signal and the end of main() may both ask, and both wait for it. */
let tornDown: Promise<void> | undefined;
function tearDownOnce(): Promise<void> {
  tornDown ??= tearDownTestServer();
  return tornDown;
}

/** Ctrl-C or SIGTERM: drop the databases made for the run, then exit (as spec/support/hooks.ts does). */
let signalled = false;
function onSignal(signal: NodeJS.Signals): void {
  if (signalled) return;
  signalled = true;
  process.stderr.write(`\n${signal}: dropping the fuzz databases before exiting\n`);
  tearDownOnce()
    .catch((error: unknown) => process.stderr.write(`cleanup failed: ${String(error)}\n`))
    .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
}

async function main(): Promise<number> {
  const runs = intFrom('FUZZ_RUNS', 100);
  const maxOps = intFrom('FUZZ_OPS', 150);
  const seed = intFrom('FUZZ_SEED', Math.floor(Math.random() * 2 ** 31));
  const path = process.env['FUZZ_PATH'] || undefined;
  const only = process.env['FUZZ_CONFIG'] || undefined;
  const shrinkMs = intFrom('FUZZ_SHRINK_MS', 120_000);
  const features = Features.parse(process.env['FUZZ_DISABLE']);
  const all = fullMatrix();
  const matrix =
    only === undefined ? all : all.filter((c) => configurationId(c) === only || configurationId(c).includes(only));
  if (matrix.length === 0) throw new Error(`FUZZ_CONFIG=${only} matches no configuration`);

  process.stdout.write(
    `fuzz: seed ${seed}, ${matrix.length} configuration(s), ${runs} runs of up to ${maxOps} operations each` +
      (path ? `, replaying path ${path}` : '') +
      (features.disabled.length > 0 ? `, features off: ${features.disabled.join(', ')}` : '') +
      '\n',
  );
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', tearDownTestServerSync);
  const server = await setUpTestServer();
  process.stdout.write(`PostgreSQL ${server.version} (${server.source})\n`);
  const reports: ConfigurationReport[] = [];
  try {
    const scratch = await createScratchDatabase('kr_fuzz');
    try {
      for (const [index, configuration] of matrix.entries()) {
        const report = await runConfiguration(
          configuration,
          index,
          { runs, maxOps, seed, ...(path ? { path } : {}), shrinkMs, features, replayCommand: 'npm run fuzz' },
          scratch.url,
        );
        if (signalled) break; // the database went away under it: nothing to report
        reports.push(report);
        const seconds = (report.elapsedMs / 1000).toFixed(1);
        process.stdout.write(
          `${report.failed ? 'FAIL' : 'ok  '} ${report.id} (${report.operations} operations, ${seconds} s)\n`,
        );
        if (process.env['FUZZ_VERBOSE']) process.stdout.write(`${report.stats.summary().replace(/^/gm, '     ')}\n`);
        if (report.failed) process.stdout.write(`\n${report.message}\n\n`);
      }
    } finally {
      await scratch.drop();
    }
  } finally {
    await tearDownOnce();
  }
  const failed = reports.filter((r) => r.failed);
  process.stdout.write(
    `\nfuzz: seed ${seed}: ${reports.length - failed.length} configuration(s) without a difference, ${failed.length} with\n`,
  );
  return failed.length > 0 ? 1 : 0;
}

main().then(
  // after a signal, onSignal exits once the databases are dropped
  (code) => signalled || process.exit(code),
  (error: unknown) => {
    if (signalled) return;
    process.stderr.write(`fuzz: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
