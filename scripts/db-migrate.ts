/**
 * `npm run db:migrate -- latest|up|down|status`: runs the package's migrations against
 * DATABASE_URL (the environment, then `.env`), printing each migration applied or reverted and
 * then the status of every migration. Exits 1 with the error when anything fails, 2 on bad usage.
 */
import { loadConfig, type DatabaseConfig } from '../lib/config.js';
import { createDatabase, type Database } from '../lib/database.js';
import { createLogger, silentLogger } from '../lib/logger.js';
import {
  migrateDown,
  migrateToLatest,
  migrateUp,
  migrationStatus,
  type MigrationRun,
  type MigrationState,
} from '../schema/migrator.js';

const COMMANDS = ['latest', 'up', 'down', 'status'] as const;
type Command = (typeof COMMANDS)[number];

const USAGE = `usage: npm run db:migrate -- <command>

  latest   apply every pending migration
  up       apply the next pending migration
  down     revert the last applied migration
  status   list every migration and whether it is applied

The database is DATABASE_URL (postgres://… or pglite:///dir), from the environment or .env.`;

function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function isCommand(value: string | undefined): value is Command {
  return (COMMANDS as readonly string[]).includes(value ?? '');
}

function target(config: DatabaseConfig): string {
  if (config.engine === 'pglite')
    return config.embeddedDir ? `pglite://${config.embeddedDir}` : 'pglite:// (in memory)';
  const via = config.ssh ? ` via ssh ${config.ssh.user}@${config.ssh.host}:${config.ssh.port}` : '';
  return `${config.connection?.redactedUrl ?? 'postgres'}${via}`;
}

function printRun(run: MigrationRun, idle: string): void {
  if (run.steps.length === 0) out(idle);
  for (const step of run.steps) out(`${step.direction === 'up' ? 'applied ' : 'reverted'}  ${step.name}`);
}

function printStatus(states: readonly MigrationState[]): void {
  out();
  out('status    applied at                name');
  for (const state of states) {
    const at = state.executedAt ? state.executedAt.toISOString() : '';
    out(`${state.pending ? 'pending ' : 'applied '}  ${at.padEnd(24)}  ${state.name}`);
  }
  const pending = states.filter((state) => state.pending).length;
  out();
  out(`${states.length - pending} applied, ${pending} pending`);
}

/** The error and its causes, one line each. */
function describe(error: unknown): string {
  const lines: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth += 1) {
    const message = current instanceof Error ? current.message : JSON.stringify(current);
    if (!lines.some((line) => line.endsWith(message))) lines.push(`${depth === 0 ? '' : '  caused by: '}${message}`);
    current = current instanceof Error ? current.cause : undefined;
  }
  return lines.join('\n');
}

async function run(command: Command, database: Database<unknown>): Promise<void> {
  const { db } = database;
  switch (command) {
    case 'latest':
      printRun(await migrateToLatest(db), 'nothing to apply: already at the latest migration');
      break;
    case 'up':
      printRun(await migrateUp(db), 'nothing to apply: already at the latest migration');
      break;
    case 'down':
      printRun(await migrateDown(db), 'nothing to revert: no migration is applied');
      break;
    case 'status':
      break;
  }
  printStatus(await migrationStatus(db));
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h') {
    out(USAGE);
    return 0;
  }
  if (!isCommand(command) || rest.length > 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const config = loadConfig(process.env, { logger: createLogger({ level: 'warn' }) });
  out(`db:migrate ${command}: ${target(config)}`);
  const database = createDatabase<unknown>({ config, logger: silentLogger });
  try {
    await run(command, database);
    return 0;
  } finally {
    await database.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`db:migrate failed: ${describe(error)}\n`);
    process.exitCode = 1;
  },
);
