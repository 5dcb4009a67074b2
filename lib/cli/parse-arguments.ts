/**
 * The command line, parsed into what to do (node:util parseArgs), with no side effect.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { usageError } from './cli-error.js';

/** What `migrate` does. */
export type MigrateAction = 'latest' | 'up' | 'down' | 'status';

const MIGRATE_ACTIONS: readonly MigrateAction[] = ['latest', 'up', 'down', 'status'];

/** The command the arguments name. Paths are as given (relative to the working directory). */
export type CliCommand =
  | { readonly kind: 'help'; readonly topic: 'main' | 'migrate' | 'codegen' }
  | { readonly kind: 'version' }
  | {
      readonly kind: 'migrate';
      readonly action: MigrateAction;
      readonly migrations: string;
      readonly packageMigrations: boolean;
      readonly envFile: string | undefined;
    }
  | { readonly kind: 'codegen'; readonly out: string; readonly verify: boolean; readonly envFile: string | undefined };

/** The application's migration folder when --migrations is not given. */
export const DEFAULT_MIGRATIONS = './migrations';
/** Where codegen writes when --out is not given. */
export const DEFAULT_OUT = './src/db.ts';

const HELP = { help: { type: 'boolean', short: 'h' } } as const;
const ENV_FILE = { 'env-file': { type: 'string' } } as const;

/** parseArgs, its errors (unknown option, missing value) turned into usage errors. */
function parse<O extends NonNullable<ParseArgsConfig['options']>>(
  args: readonly string[],
  options: O,
  command: string,
) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // parseArgs' messages carry advice about `--`; the first sentence is the point
    throw usageError(`${command}: ${message.split('. ')[0]?.replace(/\.$/, '') ?? message}`);
  }
}

function nonEmpty(value: string | undefined, option: string): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === '') throw usageError(`${option} needs a non-empty value`);
  return value;
}

/**
 * Parses the arguments after the program name.
 *
 * @example
 * parseArguments(['migrate', 'latest', '--migrations', 'db/migrations']);
 * // { kind: 'migrate', action: 'latest', migrations: 'db/migrations', packageMigrations: false, envFile: undefined }
 * @throws CliError (exit code 2) for an unknown command, option or action, a missing option value
 * or an extra argument.
 */
export function parseArguments(argv: readonly string[]): CliCommand {
  const [command, ...rest] = argv;
  if (command === undefined) throw usageError('a command is needed: migrate or codegen (see --help)');
  if (command === 'migrate') return parseMigrate(rest);
  if (command === 'codegen') return parseCodegen(rest);
  if (command.startsWith('-')) {
    const { values, positionals } = parse(
      argv,
      { ...HELP, version: { type: 'boolean', short: 'v' } },
      'kysely-repository',
    );
    if (positionals.length > 0) throw usageError(`unexpected argument '${positionals[0]}' (see --help)`);
    if (values.help) return { kind: 'help', topic: 'main' };
    if (values.version) return { kind: 'version' };
  }
  if (command === 'help') return { kind: 'help', topic: 'main' };
  throw usageError(`unknown command '${command}': use migrate or codegen (see --help)`);
}

function parseMigrate(args: readonly string[]): CliCommand {
  const { values, positionals } = parse(
    args,
    { ...HELP, ...ENV_FILE, migrations: { type: 'string' }, 'package-migrations': { type: 'boolean' } },
    'migrate',
  );
  if (values.help) return { kind: 'help', topic: 'migrate' };
  const [action, ...extra] = positionals;
  if (action === undefined) throw usageError('migrate needs an action: latest, up, down or status');
  if (!(MIGRATE_ACTIONS as readonly string[]).includes(action)) {
    throw usageError(`unknown migrate action '${action}': use latest, up, down or status`);
  }
  if (extra.length > 0) throw usageError(`migrate ${action}: unexpected argument '${extra[0]}'`);
  return {
    kind: 'migrate',
    action: action as MigrateAction,
    migrations: nonEmpty(values.migrations, '--migrations') ?? DEFAULT_MIGRATIONS,
    packageMigrations: values['package-migrations'] === true,
    envFile: nonEmpty(values['env-file'], '--env-file'),
  };
}

function parseCodegen(args: readonly string[]): CliCommand {
  const { values, positionals } = parse(
    args,
    { ...HELP, ...ENV_FILE, out: { type: 'string' }, verify: { type: 'boolean' } },
    'codegen',
  );
  if (values.help) return { kind: 'help', topic: 'codegen' };
  if (positionals.length > 0) throw usageError(`codegen: unexpected argument '${positionals[0]}'`);
  return {
    kind: 'codegen',
    out: nonEmpty(values.out, '--out') ?? DEFAULT_OUT,
    verify: values.verify === true,
    envFile: nonEmpty(values['env-file'], '--env-file'),
  };
}
