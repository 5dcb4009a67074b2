/**
 * Runs Kysely's own Node test suite (postgres part) as an oracle for createDialect(): once on
 * Kysely's stock PostgresDialect, once on this package's dialect, and prints which tests pass on
 * which. Every test that passes on stock should pass on ours.
 *
 *   npx tsx scripts/kysely-suite.ts <kysely-checkout> [--database-url URL] [--node PATH] [--no-build] [--verbose] [--keep]
 *
 * The checkout is used as it is: its dependencies are installed with `npm install --ignore-scripts`
 * when it has none, Kysely and its Node tests are compiled with the checkout's own tsc, and mocha
 * runs `test/node/dist/**\/*.test.js` with DIALECTS=postgres. No file of the checkout is changed:
 * two small files in a temporary directory are loaded into the test process instead:
 *
 * - preload.mjs points the suite's postgres settings (DIALECT_CONFIGS.postgres: localhost:5434,
 *   user kysely, database kysely_test) at --database-url, and in the `ours` run makes
 *   DB_CONFIGS.postgres.dialect a fresh createDialect() on every read (each with the test's own log
 *   hook when it has one; see hooks.mjs).
 * - hooks.mjs (a module load hook) rewrites one expression of test-setup.js in memory, the
 *   `new Kysely(config)` of its connect(), to `new Kysely(globalThis.__kyselySuiteConfig?.(config)
 *   ?? config)`, so the `ours` run can hand the test's `log` function to createDialect({ log })
 *   as well as to Kysely (BEGIN sent with a transaction's first statement reaches the log only so).
 *
 * The database (default postgres://postgres@127.0.0.1:5432/kysely_suite) is created when missing.
 * Kysely needs Node >= 22: without --node, this Node is used when it is 22 or later, else the one
 * `npx -y -p node@22` provides. Exits 1 when a test passes on stock but not on ours.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

type Target = 'stock' | 'ours';
type Outcome = 'pass' | 'fail' | 'pending' | 'not run';

interface TestResult {
  readonly key: string;
  readonly title: string;
  readonly outcome: Outcome;
  readonly error?: string;
}

interface RunResult {
  readonly tests: Map<string, TestResult>;
  readonly dialectsCreated: number;
}

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/kysely_suite';
const RUN_TIMEOUT_MS = 20 * 60 * 1000;
const MOCHA_TEST_TIMEOUT_MS = 15_000;
const SCRIPT_DIR = dirname(fileURLToPath(import.meta.url));
const LIB_URL = pathToFileURL(resolve(SCRIPT_DIR, '../lib/index.ts')).href;

/** The one expression of test-setup.js that the load hook rewrites. */
const CONNECT_EXPRESSION = 'new Kysely(config)';

const HOOKS_SOURCE = `// kysely-suite: rewrites connect()'s \`${CONNECT_EXPRESSION}\` in test-setup.js (in memory only)
export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (!url.endsWith('/test/node/dist/test-setup.js')) return result;
  const source = String(result.source);
  const patched = source.replace(${JSON.stringify(CONNECT_EXPRESSION)}, 'new Kysely(globalThis.__kyselySuiteConfig?.(config) ?? config)');
  if (patched === source) throw new Error('kysely-suite: ${CONNECT_EXPRESSION} not found in ' + url);
  return { ...result, source: patched };
}
`;

const PRELOAD_SOURCE = `// kysely-suite: connection settings, and createDialect() for the \`ours\` run
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
register(new URL('./hooks.mjs', import.meta.url));
const env = process.env;
const url = new URL(env.KYSELY_SUITE_DATABASE_URL);
const setup = await import(env.KYSELY_SUITE_SETUP_URL);
const settings = setup.DIALECT_CONFIGS.postgres;
Object.assign(settings, {
  host: url.hostname,
  port: Number(url.port || 5432),
  user: decodeURIComponent(url.username),
  database: decodeURIComponent(url.pathname.slice(1)),
});
if (url.password) settings.password = decodeURIComponent(url.password);
else delete settings.password;
if (env.KYSELY_SUITE_TARGET === 'ours') {
  const lib = await import(env.KYSELY_SUITE_LIB_URL);
  const made = new WeakSet();
  const make = (log) => {
    const dialect = lib.createDialect({
      config: lib.loadConfig({ DATABASE_URL: url.href }, { envFile: '/dev/null' }),
      logger: lib.silentLogger,
      log,
    });
    made.add(dialect);
    appendFileSync(env.KYSELY_SUITE_COUNT_FILE, '.');
    return dialect;
  };
  Object.defineProperty(setup.DB_CONFIGS.postgres, 'dialect', { enumerable: true, configurable: true, get: () => make(undefined) });
  globalThis.__kyselySuiteConfig = (config) =>
    made.has(config.dialect) && typeof config.log === 'function' ? { ...config, dialect: make(config.log) } : config;
}
`;

function usage(message: string): never {
  console.error(`${message}
usage: npx tsx scripts/kysely-suite.ts <kysely-checkout> [--database-url URL] [--node PATH] [--no-build] [--verbose] [--keep]`);
  process.exit(2);
}

function run(command: string, args: readonly string[], cwd: string): void {
  execFileSync(command, args, { cwd, stdio: 'inherit' });
}

/** A Node of version 22 or later, as Kysely requires. */
function findNode(explicit: string | undefined): string {
  if (explicit) return explicit;
  if (Number(process.versions.node.split('.')[0]) >= 22) return process.execPath;
  const found = execFileSync('npx', ['-y', '-p', 'node@22', 'node', '-p', 'process.execPath'], { encoding: 'utf8' });
  return found.trim();
}

function nodeMajor(node: string): number {
  return Number(execFileSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).split('.')[0]);
}

/** Installs the checkout's dependencies when it has none, then compiles Kysely and its Node tests. */
function prepare(checkout: string, build: boolean): void {
  if (!existsSync(join(checkout, 'node_modules', 'mocha'))) {
    console.log('installing the checkout’s dependencies (npm install --ignore-scripts)…');
    run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock'], checkout);
  }
  if (!build) return;
  const tsc = join(checkout, 'node_modules', '.bin', 'tsc');
  console.log('compiling Kysely and its Node tests…');
  run(tsc, ['-p', checkout], checkout);
  run(tsc, ['-p', join(checkout, 'test', 'node')], checkout);
}

/** Checks the server answers and creates the suite's database when missing. */
async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!name) usage('--database-url must name a database');
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.href, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount === 0) await client.query(`create database "${name.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function firstLine(error: unknown): string {
  if (!isRecord(error)) return '';
  const message = typeof error.message === 'string' ? error.message : '';
  return message.split('\n')[0] ?? '';
}

/** Reads mocha's JSON report: one entry per test, keyed by file, full title and occurrence. */
function readReport(file: string, checkout: string): Map<string, TestResult> {
  const report: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!isRecord(report)) throw new Error(`${file}: not a mocha JSON report`);
  const tests = new Map<string, TestResult>();
  const seen = new Map<string, number>();
  const sections: readonly [string, Outcome][] = [
    ['passes', 'pass'],
    ['failures', 'fail'],
    ['pending', 'pending'],
  ];
  for (const [section, outcome] of sections) {
    const entries = report[section];
    if (!Array.isArray(entries)) throw new Error(`${file}: no ${section} in the report`);
    for (const entry of entries as unknown[]) {
      if (!isRecord(entry) || typeof entry.fullTitle !== 'string') continue;
      const title = entry.fullTitle;
      const testFile = typeof entry.file === 'string' ? entry.file.replace(checkout, '') : '';
      const base = `${testFile}::${title}`;
      const occurrence = (seen.get(base) ?? 0) + 1;
      seen.set(base, occurrence);
      const key = `${base}#${occurrence}`;
      tests.set(key, { key, title, outcome, ...(outcome === 'fail' ? { error: firstLine(entry.err) } : {}) });
    }
  }
  return tests;
}

/** Runs the postgres suite once on `target`, in a child process, and reads its report. */
async function runSuite(
  target: Target,
  checkout: string,
  node: string,
  work: string,
  databaseUrl: string,
): Promise<RunResult> {
  const report = join(work, `${target}.json`);
  const log = join(work, `${target}.log`);
  const countFile = join(work, `${target}.count`);
  writeFileSync(countFile, '');
  rmSync(report, { force: true });
  const args = [
    ...(nodeMajor(node) >= 22 ? ['--no-experimental-require-module'] : []), // mocha must import(), so load hooks apply
    '--import',
    import.meta.resolve('tsx'),
    '--import',
    pathToFileURL(join(work, 'preload.mjs')).href,
    join(checkout, 'node_modules', 'mocha', 'bin', 'mocha.js'),
    '--timeout',
    String(MOCHA_TEST_TIMEOUT_MS),
    '--reporter',
    'json',
    '--reporter-option',
    `output=${report}`,
    'test/node/dist/**/*.test.js',
  ];
  const out = openSync(log, 'w');
  const started = Date.now();
  console.log(`running the postgres suite on ${target === 'stock' ? 'stock PostgresDialect' : 'createDialect()'}…`);
  const code = await new Promise<number | null>((done, fail) => {
    const child = spawn(node, args, {
      cwd: checkout,
      stdio: ['ignore', out, out],
      env: {
        ...process.env,
        DIALECTS: 'postgres',
        KYSELY_SUITE_TARGET: target,
        KYSELY_SUITE_DATABASE_URL: databaseUrl,
        KYSELY_SUITE_SETUP_URL: pathToFileURL(join(checkout, 'test', 'node', 'dist', 'test-setup.js')).href,
        KYSELY_SUITE_LIB_URL: LIB_URL,
        KYSELY_SUITE_COUNT_FILE: countFile,
      },
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('error', fail);
    child.on('exit', (status) => {
      clearTimeout(timer);
      done(status);
    });
  });
  closeSync(out);
  if (!existsSync(report)) {
    const tail = readFileSync(log, 'utf8').split('\n').slice(-30).join('\n');
    throw new Error(`the ${target} run (exit ${code}) wrote no report; the end of ${log}:\n${tail}`);
  }
  const tests = readReport(report, checkout);
  const dialectsCreated = readFileSync(countFile, 'utf8').length;
  console.log(`  ${tests.size} tests in ${((Date.now() - started) / 1000).toFixed(0)} s (mocha exit ${code})`);
  return { tests, dialectsCreated };
}

function printSection(heading: string, rows: readonly string[]): void {
  console.log(`\n${heading} (${rows.length})`);
  for (const row of rows) console.log(`  ${row}`);
}

function count(tests: Map<string, TestResult>, outcome: Outcome): number {
  let n = 0;
  for (const test of tests.values()) if (test.outcome === outcome) n++;
  return n;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'database-url': { type: 'string', default: process.env.KYSELY_SUITE_DATABASE_URL ?? DEFAULT_DATABASE_URL },
      node: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
    },
  });
  const [checkoutArg] = positionals;
  if (!checkoutArg || positionals.length > 1) usage('give exactly one Kysely checkout');
  const checkout = resolve(checkoutArg);
  if (!existsSync(join(checkout, 'test', 'node', 'src', 'test-setup.ts'))) {
    usage(`${checkout} is not a Kysely checkout (no test/node/src/test-setup.ts)`);
  }
  const databaseUrl = values['database-url'];

  await ensureDatabase(databaseUrl);
  prepare(checkout, !values['no-build']);
  const node = findNode(values.node);
  const work = mkdtempSync(join(tmpdir(), 'kysely-suite-'));
  writeFileSync(join(work, 'hooks.mjs'), HOOKS_SOURCE);
  writeFileSync(join(work, 'preload.mjs'), PRELOAD_SOURCE);

  const stock = await runSuite('stock', checkout, node, work, databaseUrl);
  const ours = await runSuite('ours', checkout, node, work, databaseUrl);
  if (ours.dialectsCreated === 0) throw new Error('the ours run never built a createDialect() dialect');

  const bothPass: string[] = [];
  const bothFail: string[] = [];
  const stockOnly: string[] = [];
  const oursOnly: string[] = [];
  const other: string[] = [];
  for (const key of new Set([...stock.tests.keys(), ...ours.tests.keys()])) {
    const s = stock.tests.get(key);
    const o = ours.tests.get(key);
    const title = (s ?? o)!.title;
    const sOutcome: Outcome = s?.outcome ?? 'not run';
    const oOutcome: Outcome = o?.outcome ?? 'not run';
    if (sOutcome === 'pass' && oOutcome === 'pass') bothPass.push(title);
    else if (sOutcome === 'pass') stockOnly.push(`${title}\n      ours: ${o?.error ?? oOutcome}`);
    else if (oOutcome === 'pass') oursOnly.push(`${title}\n      stock: ${s?.error ?? sOutcome}`);
    else if (sOutcome === 'fail' && oOutcome === 'fail') bothFail.push(`${title}\n      ${s?.error ?? ''}`);
    else other.push(`${title} (stock: ${sOutcome}, ours: ${oOutcome})`);
  }

  console.log(`\nKysely checkout: ${checkout}`);
  console.log(`database: ${databaseUrl}; node: ${node}; createDialect() dialects built: ${ours.dialectsCreated}`);
  console.log(`\n| run   | tests | pass | fail | pending |`);
  console.log(`| ----- | ----- | ---- | ---- | ------- |`);
  for (const [name, result] of [
    ['stock', stock],
    ['ours', ours],
  ] as const) {
    const t = result.tests;
    console.log(
      `| ${name.padEnd(5)} | ${String(t.size).padStart(5)} | ${String(count(t, 'pass')).padStart(4)} | ${String(count(t, 'fail')).padStart(4)} | ${String(count(t, 'pending')).padStart(7)} |`,
    );
  }
  const comparison: readonly [string, number][] = [
    ['passing on both', bothPass.length],
    ['failing on both', bothFail.length],
    ['passing on stock only', stockOnly.length],
    ['passing on ours only', oursOnly.length],
    ['pending or not run', other.length],
  ];
  console.log(`\n| comparison            | tests |`);
  console.log(`| --------------------- | ----- |`);
  for (const [name, n] of comparison) console.log(`| ${name.padEnd(21)} | ${String(n).padStart(5)} |`);

  if (values.verbose) printSection('passing on both', bothPass);
  printSection('failing on both', bothFail);
  printSection('passing on stock only', stockOnly);
  printSection('passing on ours only', oursOnly);
  if (other.length > 0) printSection('pending or not run', other);

  if (values.keep) console.log(`\nreports and logs kept in ${work}`);
  else rmSync(work, { recursive: true, force: true });
  process.exitCode = stockOnly.length > 0 ? 1 : 0;
}

await main();
