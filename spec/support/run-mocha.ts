/**
 * Runs mocha in a child process as an application's CI would, with the JSON reporter writing to a
 * temporary file: the testing kit's specs and its benchmark run suites this way.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const mochaBin = createRequire(import.meta.url).resolve('mocha/bin/mocha.js');

/** What mocha's JSON reporter writes (the part read here). */
export interface MochaReport {
  readonly stats: {
    readonly passes: number;
    readonly failures: number;
    readonly pending: number;
    /** The run's own duration (hooks and tests), in ms. */
    readonly duration: number;
  };
  readonly failures: readonly {
    readonly title: string;
    readonly fullTitle: string;
    readonly err: { readonly message?: string };
  }[];
}

/** Options of runMocha. */
export interface RunMochaOptions {
  /** mocha's arguments (the reporter is added). */
  readonly args: readonly string[];
  /** Node's own arguments, before mocha's script. (Default: none) */
  readonly nodeArgs?: readonly string[];
  /**
   * Set over this process's environment; an undefined value removes the variable. The kit's own
   * variables (what a global setup tells its workers) are never passed on.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly timeoutMs: number;
  /** Where mocha runs (paths in `args` are relative to it). (Default: this process's directory) */
  readonly cwd?: string;
}

/**
 * Runs mocha and returns its report and stdout. Failing tests are in the report, not thrown.
 * @throws when mocha could not run, or wrote no report.
 */
export async function runMocha(options: RunMochaOptions): Promise<{ report: MochaReport; stdout: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kr-mocha-'));
  const output = path.join(dir, 'report.json');
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['KYSELY_REPOSITORY_TEST_SERVER'];
  delete env['KYSELY_REPOSITORY_TEST_TEMPLATE'];
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  try {
    const args = [
      ...(options.nodeArgs ?? []),
      mochaBin,
      ...options.args,
      '--reporter',
      'json',
      '--reporter-option',
      `output=${output}`,
    ];
    // failing tests make mocha exit non-zero: the report says which
    const { stdout } = await run(process.execPath, args, {
      env,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      timeout: options.timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    }).catch((error: { stdout?: string; code?: unknown }) => {
      if (typeof error.code !== 'number') throw error;
      return { stdout: error.stdout ?? '' };
    });
    return { report: JSON.parse(await readFile(output, 'utf8')) as MochaReport, stdout };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
