/**
 * Checks an unpacked `npm pack` tarball (the `package/` directory): every file package.json
 * points at is shipped, no spec or stray file is, and every `sources` entry of every source map
 * resolves to a file inside the tarball. Prints the file count; exits 1 naming each problem.
 *
 *   tsx scripts/package-check/check-tarball.ts <unpacked package dir>
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

interface Manifest {
  main?: string;
  types?: string;
  bin?: Record<string, string>;
  exports?: Record<string, string | Record<string, string>>;
}

/** Where shipped files may live; anything else is a packaging mistake. */
const ALLOWED = [/^package\.json$/, /^README\.md$/, /^LICEN[CS]E(\.md)?$/, /^dist\/(lib|schema)\//, /^(lib|schema)\//];

function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? listFiles(path, base) : [relative(base, path).split(sep).join('/')];
  });
}

function main(): void {
  const root = resolve(process.argv[2] ?? '');
  if (!existsSync(join(root, 'package.json'))) throw new Error(`no package.json in ${root}`);
  const files = listFiles(root);
  const shipped = new Set(files);
  const problems: string[] = [];

  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Manifest;
  const entryPoints = [
    manifest.main,
    manifest.types,
    ...Object.values(manifest.bin ?? {}),
    ...Object.values(manifest.exports ?? {}).flatMap((target) =>
      typeof target === 'string' ? [target] : Object.values(target),
    ),
  ].filter((path): path is string => typeof path === 'string');
  for (const path of entryPoints) {
    const file = path.replace(/^\.\//, '');
    if (!shipped.has(file)) problems.push(`package.json points at ${path}, which is not in the tarball`);
  }
  for (const path of Object.values(manifest.bin ?? {})) {
    const file = join(root, path);
    if (existsSync(file) && !readFileSync(file, 'utf8').startsWith('#!')) problems.push(`bin ${path} has no #! line`);
  }

  for (const file of files) {
    if (!ALLOWED.some((pattern) => pattern.test(file))) problems.push(`unexpected file ${file}`);
    if (/\.(spec|test)\.[cm]?[jt]s$/.test(file)) problems.push(`spec file shipped: ${file}`);
  }

  let maps = 0;
  let sources = 0;
  for (const file of files.filter((f) => f.endsWith('.map'))) {
    maps += 1;
    const map = JSON.parse(readFileSync(join(root, file), 'utf8')) as { sourceRoot?: string; sources?: string[] };
    if (!map.sources?.length) problems.push(`${file} names no sources`);
    for (const source of map.sources ?? []) {
      sources += 1;
      const target = resolve(dirname(join(root, file)), map.sourceRoot ?? '', source);
      const inside = relative(root, target);
      if (inside.startsWith('..') || !existsSync(target) || !statSync(target).isFile()) {
        problems.push(`${file}: source ${source} does not resolve inside the tarball`);
      }
    }
  }

  const bytes = files.reduce((sum, f) => sum + statSync(join(root, f)).size, 0);
  process.stdout.write(
    `tarball: ${files.length} files, ${(bytes / 1024).toFixed(0)} kB unpacked; ` +
      `${maps} source maps naming ${sources} sources\n`,
  );
  if (problems.length) {
    for (const problem of problems) process.stderr.write(`  ${problem}\n`);
    process.exit(1);
  }
}

main();
