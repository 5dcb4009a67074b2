/**
 * The `kysely-repository` CLI as a function of its inputs (arguments, environment, working
 * directory, output streams), so specs run it in-process; lib/cli/main.ts is the bin that calls it
 * with the process's own.
 */
import { resolve } from 'node:path';
import type { DatabaseConfig } from '../config.js';
import type { Database } from '../database.js';
import { appMigrations } from './app-migrations.js';
import { runCodegen } from './codegen-command.js';
import { CODEGEN_HELP, MAIN_HELP, MIGRATE_HELP } from './help-text.js';
import { exitCodeOf, formatFailure, secretsOf } from './format-failure.js';
import { runMigrate } from './migrate-command.js';
import { describeTarget, loadProjectConfig, openProjectDatabase } from './open-database.js';
import { packageVersion } from './package-version.js';
import { parseArguments, type CliCommand } from './parse-arguments.js';

/** Something text is written to (process.stdout fits). */
export interface TextSink {
  write(text: string): unknown;
}

/** Everything the CLI reads and writes. */
export interface CliRuntime {
  /** The arguments after the program name. */
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** The application's project directory. */
  readonly cwd: string;
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  /** Imports kysely-codegen. (Default: a dynamic import) */
  readonly importCodegen?: () => Promise<unknown>;
}

type DatabaseCommand = Extract<CliCommand, { kind: 'migrate' | 'codegen' }>;

async function runOnDatabase(
  command: DatabaseCommand,
  runtime: CliRuntime,
  onConfig: (config: DatabaseConfig) => void,
): Promise<void> {
  const out = (line: string): void => void runtime.stdout.write(`${line}\n`);
  const config = loadProjectConfig({
    env: runtime.env,
    cwd: runtime.cwd,
    envFile: command.envFile,
    warn: (message) => void runtime.stderr.write(`kysely-repository: warning: ${message}\n`),
  });
  onConfig(config);
  // checked before connecting: a missing folder is a mistake to report without a network round trip
  const provider =
    command.kind === 'migrate'
      ? appMigrations(resolve(runtime.cwd, command.migrations), command.migrations)
      : undefined;
  let database: Database<unknown> | undefined;
  try {
    database = openProjectDatabase(config);
    if (command.kind === 'migrate' && provider) {
      await runMigrate(database.db, {
        action: command.action,
        provider,
        packageMigrations: command.packageMigrations,
        out,
      });
    } else if (command.kind === 'codegen') {
      await runCodegen(database.db, {
        out: resolve(runtime.cwd, command.out),
        shownAs: command.out,
        verify: command.verify,
        log: out,
        ...(runtime.importCodegen ? { importCodegen: runtime.importCodegen } : {}),
      });
    }
  } finally {
    await database?.close();
  }
}

/**
 * Runs the CLI once and resolves to its exit code: 0 done, 1 the operation failed, 2 usage error.
 * Every failure is one line on stderr (`kysely-repository: <message>`, no password), with the
 * stack only when DEBUG is set.
 *
 * @example
 * process.exitCode = await runCli({ argv: process.argv.slice(2), env: process.env, cwd: process.cwd(),
 *   stdout: process.stdout, stderr: process.stderr });
 * @throws nothing: every failure becomes an exit code.
 */
export async function runCli(runtime: CliRuntime): Promise<number> {
  let target: string | undefined;
  let secrets = secretsOf(runtime.env);
  try {
    const command = parseArguments(runtime.argv);
    switch (command.kind) {
      case 'help': {
        const text = { main: MAIN_HELP, migrate: MIGRATE_HELP, codegen: CODEGEN_HELP }[command.topic];
        runtime.stdout.write(`${text}\n`);
        return 0;
      }
      case 'version':
        runtime.stdout.write(`${packageVersion()}\n`);
        return 0;
      default:
        await runOnDatabase(command, runtime, (config) => {
          target = describeTarget(config);
          const more = [config.connection?.password, config.ssh?.password, config.ssh?.passphrase];
          secrets = [...secrets, ...more.filter((value): value is string => typeof value === 'string')];
        });
        return 0;
    }
  } catch (error) {
    const lines = formatFailure(error, { secrets, target, debug: Boolean(runtime.env['DEBUG']) });
    runtime.stderr.write(`${lines.join('\n')}\n`);
    return exitCodeOf(error);
  }
}
