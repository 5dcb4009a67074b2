/**
 * The package's version, read from its package.json (found upwards from this file, so it works
 * from the sources and from dist/).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The version of kysely-repository, or `unknown` when its package.json cannot be found.
 *
 * @example
 * packageVersion(); // '0.1.0'
 * @throws nothing.
 */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth += 1) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        const json = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
        if (json.name === 'kysely-repository' && typeof json.version === 'string') return json.version;
      } catch {
        // an unreadable package.json on the way up: keep looking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return 'unknown';
}
