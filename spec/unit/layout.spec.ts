/**
 * The layout of lib/ as docs/architecture.md describes it, read from the sources' own imports:
 * no import cycle, no layer importing one above it, the repository reaching no engine, one folder
 * per engine, and the repository's files small enough to read.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const LIB = fileURLToPath(new URL('../../lib/', import.meta.url));

/** Every .ts file under lib/, as a path relative to lib/. */
function sources(dir = LIB): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [relative(LIB, path)] : [];
  });
}

/** The lib/ files `file` imports (static and type imports, re-exports), relative to lib/. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(LIB, file), 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/g)) {
    found.push(normalize(join(dirname(file), match[1]!.replace(/\.js$/, '.ts'))));
  }
  return found;
}

const files = sources();
const graph = new Map(files.map((file) => [file, importsOf(file)]));

/**
 * The layer a file belongs to, in the order data flows. Leaves (errors, logger, the engine
 * interface, …) have none, and neither have the roots that assemble the layers: database.ts
 * (createDatabase), index.ts, create-dialect.ts, maintenance.ts, cli/ and testing/ (the testing kit's
 * own entry, which nothing else imports: see spec/testing/test-database.spec.ts).
 */
function layer(file: string): number | undefined {
  const order = ['config.ts', 'connection/', 'database-context.ts', 'transaction/', 'repository/', 'users/'];
  const index = order.findIndex((prefix) => file.startsWith(prefix));
  return index < 0 ? undefined : index;
}

describe('layout of lib/', () => {
  it('has no import cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) if (graph.has(next)) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    expect(cycles).to.deep.equal([]);
  });

  it('imports only downward: config -> connection -> database context -> transaction -> repository -> users', () => {
    const upward: string[] = [];
    for (const [file, imports] of graph) {
      const from = layer(file);
      if (from === undefined) continue;
      for (const target of imports) {
        const to = layer(target);
        if (to !== undefined && to > from) upward.push(`${file} -> ${target}`);
      }
    }
    expect(upward).to.deep.equal([]);
  });

  it('leaves createDatabase (database.ts) to the roots: no layer imports it', () => {
    const importers = [...graph]
      .filter(([file, imports]) => layer(file) !== undefined && imports.includes('database.ts'))
      .map(([file]) => file);
    expect(importers).to.deep.equal([]);
  });

  it('keeps the repository and the users off the engines: nothing there imports connection/', () => {
    const reaching = [...graph]
      .filter(([file]) => file.startsWith('repository/') || file.startsWith('users/'))
      .flatMap(([file, imports]) =>
        imports.filter((target) => target.startsWith('connection/')).map((t) => `${file} -> ${t}`),
      );
    expect(reaching).to.deep.equal([]);
  });

  it('has one folder per engine under connection/, and no engine file loose beside them', () => {
    const folders = readdirSync(join(LIB, 'connection')).filter((name) =>
      statSync(join(LIB, 'connection', name)).isDirectory(),
    );
    expect(folders.sort()).to.deep.equal(['failover', 'pg', 'pglite', 'replicas', 'ssh']);
    const loose = files.filter((file) => /^connection\/(pg|ssh|pglite|replica)[^/]*\.ts$/.test(file));
    expect(loose).to.deep.equal([]);
  });

  it('keeps every repository file under about 400 lines', () => {
    const long = files
      .filter((file) => file.startsWith('repository/'))
      .map((file) => [file, readFileSync(join(LIB, file), 'utf8').split('\n').length] as const)
      .filter(([, lines]) => lines > 400);
    expect(long).to.deep.equal([]);
  });
});
