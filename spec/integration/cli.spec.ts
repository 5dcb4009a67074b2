/**
 * The `kysely-repository` CLI in an application's project: a temporary directory with its own
 * migrations folder (a table with a composite primary key, one with a uuid key) and its own
 * database. runCli runs in-process; one case runs the built bin as a child process, one runs
 * migrate through a real sshd (DB_SSH_*).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import pg from 'pg';
import { runCli } from '../../lib/cli/run-cli.js';
import { freePort } from '../support/free-port.js';
import { queryServer } from '../support/spec-helpers.js';
import { sshEnv, startSshServerOrSkip } from '../support/ssh-server.js';
import { createScratchDatabase } from '../support/test-server.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(REPO, 'dist', 'lib', 'cli', 'main.js');
const ORDER_LINES = '2024-01-01-001-order-lines';
const DEVICES = '2024-01-02-001-devices';
const PACKAGE_MIGRATIONS = ['2026-11-27-001-create-users', '2026-12-07-002-users-username-lower-key'];

const ORDER_LINES_MJS = `
export async function up(db) {
  await db.schema
    .createTable('order_lines')
    .addColumn('order_id', 'bigint', (col) => col.notNull())
    .addColumn('line_no', 'integer', (col) => col.notNull())
    .addColumn('sku', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('order_lines_pkey', ['order_id', 'line_no'])
    .execute();
}
export async function down(db) {
  await db.schema.dropTable('order_lines').execute();
}
`;

const DEVICES_JS = `
import { sql } from 'kysely';
export async function up(db) {
  await db.schema
    .createTable('devices')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql\`gen_random_uuid()\`))
    .addColumn('serial_number', 'text', (col) => col.notNull())
    .execute();
}
export async function down(db) {
  await db.schema.dropTable('devices').execute();
}
`;

const TYPED_TS = `
import type { Kysely } from 'kysely';
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('typed_things').addColumn('id', 'integer', (col) => col.primaryKey()).execute();
}
export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('typed_things').execute();
}
`;

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Does `node` at this version strip TypeScript types by default (22.18+, 23.6+)? */
function nodeStripsTypes(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 6) || (major === 22 && minor >= 18);
}

describe('the kysely-repository CLI in an application project', function () {
  let project: string;
  let url: string;
  let client: pg.Client;
  const drops: (() => Promise<void>)[] = [];

  async function cli(
    argv: string[],
    env: Record<string, string> = { DATABASE_URL: url },
    options: { cwd?: string; importCodegen?: () => Promise<unknown> } = {},
  ): Promise<Outcome> {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await runCli({
      argv,
      env,
      cwd: options.cwd ?? project,
      stdout: { write: (text: string) => stdout.push(text) },
      stderr: { write: (text: string) => stderr.push(text) },
      ...(options.importCodegen ? { importCodegen: options.importCodegen } : {}),
    });
    return { code, stdout: stdout.join(''), stderr: stderr.join('') };
  }

  /** Expects exactly one line on stderr, `kysely-repository: …`, and returns it. */
  function oneLine(outcome: Outcome): string {
    const lines = outcome.stderr.split('\n').filter((line) => line !== '');
    expect(lines, outcome.stderr).to.have.length(1);
    expect(lines[0]).to.match(/^kysely-repository: /);
    return lines[0]!;
  }

  async function newDatabase(prefix: string): Promise<string> {
    const target = await createScratchDatabase(prefix);
    drops.push(target.drop);
    return target.url;
  }

  before(async () => {
    url = await newDatabase('kr_cli');
    project = await mkdtemp(join(tmpdir(), 'kr-cli-project-'));
    // an application project: ESM, kysely installed, its own migrations folder
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'app', type: 'module' }));
    await symlink(join(REPO, 'node_modules'), join(project, 'node_modules'), 'dir');
    await mkdir(join(project, 'migrations'));
    await writeFile(join(project, 'migrations', `${ORDER_LINES}.mjs`), ORDER_LINES_MJS);
    await writeFile(join(project, 'migrations', `${DEVICES}.js`), DEVICES_JS);
    await mkdir(join(project, 'typed-migrations'));
    await writeFile(join(project, 'typed-migrations', '2024-02-01-001-typed.ts'), TYPED_TS);
    client = new pg.Client({ connectionString: url });
    client.on('error', () => undefined);
    await client.connect();
  });

  after(async () => {
    await client?.end();
    for (const drop of drops) await drop();
    if (project) await rm(project, { recursive: true, force: true });
  });

  async function tables(): Promise<string[]> {
    const { rows } = await client.query<{ name: string }>(
      "select tablename as name from pg_tables where schemaname = 'public' order by 1",
    );
    return rows.map((row) => row.name);
  }

  describe('usage', () => {
    it('prints help and exits 0 (--help, migrate --help, codegen --help)', async () => {
      const main = await cli(['--help'], {});
      expect(main.code).to.equal(0);
      expect(main.stdout).to.match(/^Usage: kysely-repository <command>/);
      expect(main.stderr).to.equal('');
      expect((await cli(['migrate', '--help'], {})).stdout).to.include('--package-migrations');
      expect((await cli(['codegen', '--help'], {})).stdout).to.include('--verify');
    });

    it('prints the version and exits 0', async () => {
      const { version } = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };
      expect(await cli(['--version'], {})).to.deep.equal({ code: 0, stdout: `${version}\n`, stderr: '' });
    });

    it('exits 2 with one line for an unknown command, option or action', async () => {
      const unknown = await cli(['migrat', 'latest']);
      expect(unknown.code).to.equal(2);
      expect(oneLine(unknown)).to.include("unknown command 'migrat'");
      const option = await cli(['migrate', 'latest', '--folder', 'x']);
      expect(option.code).to.equal(2);
      expect(oneLine(option)).to.include('--folder');
      const action = await cli(['migrate', 'sideways']);
      expect(action.code).to.equal(2);
      expect(oneLine(action)).to.include("'sideways'");
      expect((await cli([])).code).to.equal(2);
      expect(await tables()).to.deep.equal([]);
    });
  });

  describe('configuration', () => {
    it('exits 1 naming DATABASE_URL when it is missing (no .env in the project)', async () => {
      const outcome = await cli(['migrate', 'status'], {});
      expect(outcome.code).to.equal(1);
      expect(oneLine(outcome)).to.include('DATABASE_URL');
    });

    it("reads DATABASE_URL from the project's .env, and --env-file relative to the project", async () => {
      const envProject = await mkdtemp(join(tmpdir(), 'kr-cli-env-'));
      try {
        await mkdir(join(envProject, 'migrations'));
        await writeFile(join(envProject, '.env'), `DATABASE_URL=${url}\n`);
        const fromDotEnv = await cli(['migrate', 'status'], {}, { cwd: envProject });
        expect(fromDotEnv).to.deep.include({ code: 0, stderr: '' });
        expect(fromDotEnv.stdout).to.equal('no migrations\n');
        await writeFile(join(envProject, 'other.env'), `DATABASE_URL=${url}\n`);
        expect((await cli(['migrate', 'status', '--env-file', 'other.env'], {}, { cwd: envProject })).code).to.equal(0);
        const missing = await cli(['migrate', 'status', '--env-file', 'nope.env'], {}, { cwd: envProject });
        expect(missing.code).to.equal(1);
        expect(oneLine(missing)).to.include('nope.env');
      } finally {
        await rm(envProject, { recursive: true, force: true });
      }
    });

    it('exits 1 with one line naming DATABASE_URL, and no password, when the connection is refused', async () => {
      const port = await freePort();
      const env = { DATABASE_URL: `postgres://app:hunter2-secret@127.0.0.1:${port}/app` };
      for (const argv of [
        ['migrate', 'latest'],
        ['migrate', 'status'],
        ['codegen', '--verify'],
      ]) {
        const outcome = await cli(argv, env);
        expect(outcome.code, argv.join(' ')).to.equal(1);
        const line = oneLine(outcome);
        expect(line).to.include('DATABASE_URL');
        expect(line).to.include(`127.0.0.1:${port}`);
        expect(line).not.to.include('hunter2');
        expect(outcome.stdout).not.to.include('hunter2');
      }
    });

    it('exits 1 naming the folder when the migrations folder does not exist', async () => {
      const outcome = await cli(['migrate', 'latest', '--migrations', 'db/missing']);
      expect(outcome.code).to.equal(1);
      expect(oneLine(outcome)).to.include('db/missing');
    });
  });

  describe('migrate', () => {
    it("status lists the application's migrations, pending, and creates nothing", async () => {
      const outcome = await cli(['migrate', 'status']);
      expect(outcome).to.deep.include({ code: 0, stderr: '' });
      expect(outcome.stdout.trim().split('\n')).to.deep.equal([`${ORDER_LINES}  pending`, `${DEVICES}      pending`]);
      expect(await tables()).to.deep.equal([]);
    });

    it("latest applies them with Kysely's Migrator, history in kysely_migration", async () => {
      const outcome = await cli(['migrate', 'latest']);
      expect(outcome).to.deep.equal({ code: 0, stdout: `applied ${ORDER_LINES}\napplied ${DEVICES}\n`, stderr: '' });
      expect(await tables()).to.deep.equal(['devices', 'kysely_migration', 'kysely_migration_lock', 'order_lines']);
      const { rows: keys } = await client.query<{ table: string; def: string }>(`
        select conrelid::regclass::text as table, pg_get_constraintdef(oid) as def
        from pg_constraint where contype = 'p' and conrelid::regclass::text in ('order_lines', 'devices') order by 1`);
      expect(keys).to.deep.equal([
        { table: 'devices', def: 'PRIMARY KEY (id)' },
        { table: 'order_lines', def: 'PRIMARY KEY (order_id, line_no)' },
      ]);
      const again = await cli(['migrate', 'latest']);
      expect(again.stdout).to.equal('nothing to apply: already at the latest migration\n');
      const status = await cli(['migrate', 'status']);
      expect(status.stdout).to.match(new RegExp(`^${ORDER_LINES}  \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z\\n`));
    });

    it('down reverts the last one, up applies it again', async () => {
      expect((await cli(['migrate', 'down'])).stdout).to.equal(`reverted ${DEVICES}\n`);
      expect((await cli(['migrate', 'status'])).stdout).to.include(`${DEVICES}      pending`);
      expect(await tables()).not.to.include('devices');
      expect((await cli(['migrate', 'up'])).stdout).to.equal(`applied ${DEVICES}\n`);
      expect(await tables()).to.include('devices');
    });

    it("--package-migrations applies the package's own first, in their own tables", async () => {
      const outcome = await cli(['migrate', 'latest', '--package-migrations']);
      expect(outcome).to.deep.include({ code: 0, stderr: '' });
      expect(outcome.stdout).to.equal(PACKAGE_MIGRATIONS.map((name) => `applied ${name}\n`).join(''));
      const { rows } = await client.query<{ name: string }>('select name from kysely_repository_migration order by 1');
      expect(rows.map((row) => row.name)).to.deep.equal(PACKAGE_MIGRATIONS);
      const { rows: app } = await client.query<{ name: string }>('select name from kysely_migration order by 1');
      expect(app.map((row) => row.name)).to.deep.equal([ORDER_LINES, DEVICES]);
      const status = await cli(['migrate', 'status', '--package-migrations']);
      const names = status.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/)[0]);
      expect(names).to.deep.equal([...PACKAGE_MIGRATIONS, ORDER_LINES, DEVICES]);
      expect(status.stdout).not.to.include('pending');
    });

    it('reports a failing migration with its name, one line, exit 1', async () => {
      const broken = await mkdtemp(join(project, 'broken-'));
      await writeFile(
        join(broken, '2024-03-01-001-broken.mjs'),
        "export async function up(db) { await db.schema.createTable('order_lines').addColumn('x', 'integer').execute(); }\n",
      );
      const database = await newDatabase('kr_cli_broken');
      await queryServer(database, 'create table order_lines (x int)');
      const outcome = await cli(['migrate', 'latest', '--migrations', broken], { DATABASE_URL: database });
      expect(outcome.code).to.equal(1);
      expect(oneLine(outcome)).to.match(/migration 2024-03-01-001-broken \(up\) failed: .*already exists/);
    });

    it('imports .ts migrations where the runtime strips types (here: tsx in-process)', async () => {
      const database = await newDatabase('kr_cli_ts');
      const outcome = await cli(['migrate', 'latest', '--migrations', 'typed-migrations'], { DATABASE_URL: database });
      expect(outcome).to.deep.equal({ code: 0, stdout: 'applied 2024-02-01-001-typed\n', stderr: '' });
    });
  });

  describe('codegen', () => {
    it('writes the types of the database to ./src/db.ts, camelCase, without the migration tables', async () => {
      const outcome = await cli(['codegen']);
      expect(outcome).to.deep.equal({ code: 0, stdout: 'wrote ./src/db.ts\n', stderr: '' });
      const source = await readFile(join(project, 'src', 'db.ts'), 'utf8');
      expect(source).to.include('export interface OrderLines {');
      expect(source).to.include('lineNo: number;');
      expect(source).to.include('export interface Devices {');
      expect(source).to.include('serialNumber: string;');
      expect(source).to.include('export interface Users {');
      expect(source).to.include('id: GeneratedAlways<string>;');
      expect(source).to.match(/orderLines: OrderLines;/);
      expect(source).not.to.match(/KyselyMigration|KyselyRepositoryMigration|kysely_migration/i);
    });

    it('--verify exits 0 while the file matches, 1 with one line after a schema change; writes nothing', async () => {
      expect(await cli(['codegen', '--verify'])).to.deep.equal({
        code: 0,
        stdout: './src/db.ts is up to date\n',
        stderr: '',
      });
      const before = await readFile(join(project, 'src', 'db.ts'), 'utf8');
      await client.query('alter table devices add column firmware text');
      try {
        const outcome = await cli(['codegen', '--verify']);
        expect(outcome.code).to.equal(1);
        expect(oneLine(outcome)).to.match(/\.\/src\/db\.ts is out of date .*run kysely-repository codegen/);
        expect(await readFile(join(project, 'src', 'db.ts'), 'utf8')).to.equal(before);
        expect((await cli(['codegen', '--out', 'types/other.ts'])).code).to.equal(0);
        expect(await readFile(join(project, 'types', 'other.ts'), 'utf8')).to.include('firmware: string | null;');
      } finally {
        await client.query('alter table devices drop column firmware');
      }
    });

    it('says how to install kysely-codegen when it is missing', async () => {
      const missing = (): Promise<unknown> =>
        Promise.reject(
          Object.assign(new Error("Cannot find package 'kysely-codegen'"), { code: 'ERR_MODULE_NOT_FOUND' }),
        );
      const outcome = await cli(['codegen'], { DATABASE_URL: url }, { importCodegen: missing });
      expect(outcome.code).to.equal(1);
      expect(oneLine(outcome)).to.include('npm install --save-dev kysely-codegen');
    });
  });

  describe('the built bin (dist), as a child process', () => {
    const run = promisify(execFile);

    function requireDist(context: Mocha.Context): void {
      if (!existsSync(BIN)) {
        process.stdout.write(`    skipping: ${BIN.slice(REPO.length)} is missing (run npm run build first)\n`);
        context.skip();
      }
    }

    it('node dist/lib/cli/main.js --help exits 0 with the usage', async function () {
      requireDist(this);
      const { stdout } = await run(process.execPath, [BIN, '--help'], { cwd: project });
      expect(stdout).to.match(/^Usage: kysely-repository <command>/);
    });

    it(`imports .ts migrations natively on Node 22.18+, else says Node 22.18+ is needed (this is ${process.version})`, async function () {
      requireDist(this);
      const database = await newDatabase('kr_cli_ts_bin');
      const env = { PATH: process.env['PATH'] ?? '', DATABASE_URL: database };
      const child = await run(process.execPath, [BIN, 'migrate', 'latest', '--migrations', 'typed-migrations'], {
        cwd: project,
        env,
      }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (error: { code?: number; stdout?: string; stderr?: string }) => ({
          code: error.code ?? -1,
          stdout: error.stdout ?? '',
          stderr: error.stderr ?? '',
        }),
      );
      if (nodeStripsTypes(process.versions.node)) {
        expect(child).to.deep.equal({ code: 0, stdout: 'applied 2024-02-01-001-typed\n', stderr: '' });
      } else {
        expect(child.code).to.equal(1);
        expect(oneLine(child)).to.match(/2024-02-01-001-typed\.ts: Node 22\.18\+ is needed for \.ts migrations/);
      }
    });
  });

  describe('through the SSH tunnel (real sshd, DB_SSH_*)', () => {
    it('migrates latest with --package-migrations through the tunnel', async function () {
      const server = await startSshServerOrSkip(this, 'the CLI through the SSH tunnel');
      try {
        const database = await newDatabase('kr_cli_ssh');
        const mark = server.mark();
        const outcome = await cli(['migrate', 'latest', '--package-migrations'], sshEnv(server, database));
        expect(outcome).to.deep.include({ code: 0, stderr: '' });
        expect(outcome.stdout).to.include(`applied ${PACKAGE_MIGRATIONS[0]}`);
        expect(outcome.stdout).to.include(`applied ${DEVICES}`);
        expect(server.logSince(mark)).to.include('Connection from');
      } finally {
        await server.destroy();
      }
    });
  });
});
