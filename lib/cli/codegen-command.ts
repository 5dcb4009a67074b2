/**
 * `kysely-repository codegen [--out <file>] [--verify]`: writes (or checks) the TypeScript types
 * of the application's database. kysely-codegen is an optional peer dependency, imported here
 * only, when the command runs.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Kysely } from 'kysely';
import { CliError } from './cli-error.js';
import { generateTypes, type CodegenModule } from './generate-types.js';

/** What one `codegen` run needs. */
export interface CodegenOptions {
  /** The file to write or check (absolute). */
  readonly out: string;
  /** The file as the user named it, for messages. */
  readonly shownAs: string;
  readonly verify: boolean;
  /** Receives each line of output. */
  readonly log: (line: string) => void;
  /** Imports kysely-codegen. (Default: a dynamic import) */
  readonly importCodegen?: () => Promise<unknown>;
}

const INSTALL = 'kysely-codegen is not installed: npm install --save-dev kysely-codegen';

/**
 * kysely-codegen, imported now.
 *
 * @example
 * const codegen = await loadCodegen(() => import('kysely-codegen'));
 * @throws CliError saying `npm install --save-dev kysely-codegen` when it is not installed (or
 * lacks the API this package uses); the import's error otherwise.
 */
export async function loadCodegen(importCodegen: () => Promise<unknown>): Promise<CodegenModule> {
  let loaded: unknown;
  try {
    loaded = await importCodegen();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND')
      throw new CliError(INSTALL, 1, { cause: error });
    throw error;
  }
  const module = loaded as Partial<CodegenModule> & { default?: Partial<CodegenModule> };
  const api = typeof module.generate === 'function' ? module : module.default;
  if (typeof api?.generate !== 'function' || typeof api.PostgresDialect !== 'function') {
    throw new CliError(`${INSTALL} (the installed one has no generate/PostgresDialect: ^0.20 is needed)`);
  }
  return api as CodegenModule;
}

/** The first line (1-based) where `a` and `b` differ. */
function firstDifference(a: string, b: string): number {
  const left = a.split('\n');
  const right = b.split('\n');
  let i = 0;
  while (i < left.length && i < right.length && left[i] === right[i]) i += 1;
  return i + 1;
}

/**
 * Generates the types of `db` and writes them to `options.out`, or with `verify` compares them to it.
 *
 * @example
 * await runCodegen(database.db, { out: '/app/src/db.ts', shownAs: './src/db.ts', verify: false, log: console.log });
 * @throws CliError when kysely-codegen is missing, or (verify) when the file is missing or differs;
 * the mapped DatabaseError when the database cannot be introspected.
 */
export async function runCodegen(db: Kysely<unknown>, options: CodegenOptions): Promise<void> {
  const codegen = await loadCodegen(options.importCodegen ?? (() => import('kysely-codegen')));
  const generated = await generateTypes(codegen, db.withoutPlugins());
  if (options.verify) {
    const current = await readFile(options.out, 'utf8').catch(() => undefined);
    if (current === undefined) {
      throw new CliError(`${options.shownAs} does not exist: run kysely-repository codegen`);
    }
    if (current !== generated) {
      const line = firstDifference(generated, current);
      throw new CliError(
        `${options.shownAs} is out of date (first difference at line ${line}): run kysely-repository codegen`,
      );
    }
    options.log(`${options.shownAs} is up to date`);
    return;
  }
  await mkdir(dirname(options.out), { recursive: true });
  await writeFile(options.out, generated);
  options.log(`wrote ${options.shownAs}`);
}
