/**
 * TypeScript types of a database, by kysely-codegen's programmatic API over a Kysely instance (so
 * they come through whatever that Kysely connects through: the SSH tunnel too). The CLI's codegen
 * and the package's own scripts/db-codegen.ts share it.
 */
import type { Kysely } from 'kysely';
import type * as KyselyCodegen from 'kysely-codegen';
import { generatedAlwaysOverrides } from './generated-always-overrides.js';

/** The kysely-codegen module (imported by the caller: it is an optional peer dependency). */
export type CodegenModule = Pick<typeof KyselyCodegen, 'generate' | 'PostgresDialect'>;

/** Migration bookkeeping tables: Kysely's defaults and the package's own. */
export const BOOKKEEPING_TABLES = '*.{kysely_migration*,kysely_repository_migration*}';

/** Options of generateTypes. */
export interface GenerateTypesOptions {
  /** kysely-codegen's includePattern (`schema.table` glob). (Default: every schema) */
  readonly includePattern?: string;
}

/**
 * The TypeScript kysely-codegen generates for `db` (no plugins: introspection must see the real
 * names): camelCase, int8 as string and timestamptz as Date (as the package's pg returns them),
 * identity-always and stored generated columns as GeneratedAlways, the migration bookkeeping
 * tables left out. Writes nothing.
 *
 * @example
 * const source = await generateTypes(await import('kysely-codegen'), database.db.withoutPlugins());
 * @throws what introspection throws (pg's error, unmapped).
 */
export async function generateTypes(
  codegen: CodegenModule,
  db: Kysely<unknown>,
  options: GenerateTypesOptions = {},
): Promise<string> {
  const overrides = await generatedAlwaysOverrides(db);
  return await codegen.generate({
    db,
    dialect: new codegen.PostgresDialect(),
    camelCase: true,
    defaultSchemas: ['public'],
    includePattern: options.includePattern ?? null,
    excludePattern: BOOKKEEPING_TABLES,
    typeMapping: { int8: 'string', timestamptz: 'Date' },
    customImports: Object.keys(overrides).length > 0 ? { GeneratedAlways: 'kysely' } : {},
    overrides: { columns: overrides },
    typeOnlyImports: true,
    outFile: null,
  });
}
