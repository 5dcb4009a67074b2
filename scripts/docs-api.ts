/**
 * The API reference in docs/api, generated from the TSDoc of the public surface (lib/index.ts)
 * with TypeDoc and typedoc-plugin-markdown, configured by typedoc.json.
 *
 *   tsx scripts/docs-api.ts            regenerates docs/api
 *   tsx scripts/docs-api.ts --verify   generates into a temporary directory and exits 1, listing
 *                                      the files that differ, when the checked-in docs/api is stale
 *
 * Exit codes: 0 done (or up to date), 1 TypeDoc failed or docs/api is stale, 2 usage error.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Application } from 'typedoc';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const checkedIn = join(root, 'docs', 'api');

/** Runs TypeDoc with typedoc.json into `out`; false when it reported errors (or warnings it treats as errors). */
async function generate(out: string): Promise<boolean> {
  const app = await Application.bootstrapWithPlugins({ options: join(root, 'typedoc.json'), out });
  const strict = app.options.getValue('treatWarningsAsErrors');
  const failed = (): boolean => app.logger.hasErrors() || (strict && app.logger.hasWarnings());
  if (failed()) return false;
  const project = await app.convert();
  if (!project || failed()) return false;
  app.validate(project);
  if (failed()) return false;
  await app.generateOutputs(project);
  return !failed();
}

/** Every file under `dir`, as a path relative to it with `/` separators, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
}

/** The files that are only in one tree or differ in content, relative to the trees' roots. */
async function differences(expectedDir: string, actualDir: string): Promise<string[]> {
  const expected = await filesUnder(expectedDir);
  const actual = await filesUnder(actualDir);
  const all = [...new Set([...expected, ...actual])].sort();
  const differing: string[] = [];
  for (const file of all) {
    if (!expected.includes(file)) {
      differing.push(`${file} (not generated any more: remove it)`);
    } else if (!actual.includes(file)) {
      differing.push(`${file} (missing)`);
    } else {
      const [want, have] = await Promise.all([readFile(join(expectedDir, file)), readFile(join(actualDir, file))]);
      if (!want.equals(have)) differing.push(`${file} (changed)`);
    }
  }
  return differing;
}

async function main(args: readonly string[]): Promise<number> {
  const unknown = args.filter((arg) => arg !== '--verify');
  if (unknown.length > 0) {
    console.error(`docs-api: unknown argument ${unknown.join(' ')}; usage: tsx scripts/docs-api.ts [--verify]`);
    return 2;
  }
  if (!args.includes('--verify')) {
    if (!(await generate(checkedIn))) {
      console.error('docs-api: TypeDoc failed (see above); docs/api was not updated');
      return 1;
    }
    console.log(`docs-api: wrote ${relative(root, checkedIn)}`);
    return 0;
  }
  const scratch = await mkdtemp(join(tmpdir(), 'docs-api-'));
  try {
    const out = join(scratch, 'api');
    if (!(await generate(out))) {
      console.error('docs-api: TypeDoc failed (see above)');
      return 1;
    }
    const differing = await differences(out, checkedIn);
    if (differing.length === 0) {
      console.log('docs-api: docs/api is up to date');
      return 0;
    }
    console.error(`docs-api: docs/api differs from the TSDoc in ${differing.length} file(s); run \`npm run docs\`:`);
    for (const line of differing) console.error(`  docs/api/${line}`);
    return 1;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

process.exitCode = await main(process.argv.slice(2));
