/**
 * `npm run db:codegen`: schema/db.ts from the migrations. Creates a scratch database, migrates
 * it to the latest, runs kysely-codegen on it (camelCase, postgres) and writes schema/db.ts,
 * then drops the scratch database.
 *
 * `tsx scripts/db-codegen.ts --verify` (part of `npm run lint`) generates the same way but only
 * compares: it exits 1 when the committed schema/db.ts differs from what codegen produces.
 *
 * The scratch database lives on the first server that answers: DATABASE_URL's (postgres:// only),
 * TEST_DATABASE_URL's, postgres://postgres@127.0.0.1:5432, else a throwaway cluster started from
 * the installed PostgreSQL server binaries (the spec harness's).
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Kysely, PostgresDialect } from 'kysely';
import * as codegen from 'kysely-codegen';
import pg from 'pg';
import { generateTypes } from '../lib/cli/generate-types.js';
import { redactUrl } from '../lib/redact.js';
import { migrateToLatest } from '../schema/migrator.js';
import { dropDatabase } from '../spec/support/drop-database.js';
import { findServerBinaries, startThrowawayCluster, type ThrowawayCluster } from '../spec/support/postgres-cluster.js';

const OUT_FILE = fileURLToPath(new URL('../schema/db.ts', import.meta.url));
const OUT_NAME = 'schema/db.ts';
const LOCAL_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** A server to make the scratch database on. */
interface ScratchServer {
  readonly adminUrl: string;
  readonly source: string;
  readonly cluster?: ThrowawayCluster;
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Replaces the database name of a postgres URL. */
function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(name)}`;
  return parsed.toString();
}

async function canCreateDatabases(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ ok: boolean }>(
      'select rolcreatedb or rolsuper as ok from pg_roles where rolname = current_user',
    );
    return rows[0]?.ok === true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function chooseServer(): Promise<ScratchServer> {
  const candidates: { url: string | undefined; source: string }[] = [
    { url: process.env['DATABASE_URL'], source: 'DATABASE_URL' },
    { url: process.env['TEST_DATABASE_URL'], source: 'TEST_DATABASE_URL' },
    { url: LOCAL_URL, source: 'local server' },
  ];
  for (const { url, source } of candidates) {
    if (!url || !/^postgres(ql)?:\/\//i.test(url)) continue;
    if (await canCreateDatabases(url)) return { adminUrl: url, source };
  }
  if (!findServerBinaries()) {
    throw new Error(
      'no PostgreSQL server to generate against: set DATABASE_URL or TEST_DATABASE_URL to a server where ' +
        'the user may create databases, start one on 127.0.0.1:5432, or install the server binaries',
    );
  }
  const cluster = await startThrowawayCluster();
  return { adminUrl: cluster.url('postgres'), source: 'throwaway cluster', cluster };
}

/** Runs `fn` on a connection of its own to `url`, then closes it. */
async function withAdmin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Drops the scratch database once the pools' sessions are gone (see dropDatabase). */
async function dropScratch(url: string, name: string): Promise<void> {
  await withAdmin(url, (client) => dropDatabase(client, name));
}

/**
 * Migrates `url` to the latest and returns what kysely-codegen generates from it: the same
 * generation as `kysely-repository codegen` (lib/cli/generate-types.ts), limited to `public`.
 */
async function generateFrom(url: string): Promise<string> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined); // a session that ends while the pool closes is not a failure
  const db = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool }),
  });
  try {
    const { steps } = await migrateToLatest(db);
    out(`  migrated: ${steps.map((step) => step.name).join(', ') || 'nothing to do'}`);
    return await generateTypes(codegen, db, { includePattern: 'public.*' });
  } finally {
    await db.destroy();
  }
}

/** The first lines where `expected` and `actual` differ, as a short +/- listing. */
function firstDifference(expected: string, actual: string): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i += 1;
  const lines = [`first difference at line ${i + 1}:`];
  for (const line of b.slice(i, i + 5)) lines.push(`- ${line}`);
  for (const line of a.slice(i, i + 5)) lines.push(`+ ${line}`);
  return lines.join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const unknown = argv.filter((arg) => arg !== '--verify');
  if (unknown.length > 0) {
    process.stderr.write(`usage: tsx scripts/db-codegen.ts [--verify]\nunknown argument: ${unknown.join(' ')}\n`);
    return 2;
  }
  const verify = argv.includes('--verify');
  const server = await chooseServer();
  const name = `kr_codegen_${process.pid}_${randomBytes(4).toString('hex')}`;
  const url = withDatabase(server.adminUrl, name);
  const cleanUp = async (): Promise<void> => {
    try {
      await dropScratch(server.adminUrl, name);
    } finally {
      await server.cluster?.destroy();
    }
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\n${signal}: dropping the scratch database\n`);
    void cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => server.cluster?.destroySync());

  out(`db:codegen: scratch database on ${server.source} (${redactUrl(withDatabase(server.adminUrl, name))})`);
  let generated: string;
  try {
    await withAdmin(server.adminUrl, (client) => client.query(`create database "${name}"`));
    generated = await generateFrom(url);
  } finally {
    await cleanUp();
  }

  if (!verify) {
    await writeFile(OUT_FILE, generated);
    out(`  wrote ${OUT_NAME}`);
    return 0;
  }
  const committed = await readFile(OUT_FILE, 'utf8').catch(() => '');
  if (committed === generated) {
    out(`  ${OUT_NAME} is up to date`);
    return 0;
  }
  process.stderr.write(`${firstDifference(generated, committed)}\n`);
  process.stderr.write(`${OUT_NAME} is out of date: run npm run db:codegen\n`);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`db:codegen failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
