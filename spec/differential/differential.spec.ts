/**
 * Differential, property-based test: fast-check generates table schemas (a primary key of one
 * column, a composite one of 2–3 columns of mixed types, or none) and lists of operations;
 * each operation runs through the package (createDatabase + Repository + withTransaction) and
 * through a reference written with stock Kysely (a plain Kysely over a plain pg.Pool, see
 * support/reference.ts), on two identical tables; every result or error is compared, and so are
 * the tables' contents after every write (read with raw pg, each column as text).
 *
 * CI runs a pairwise cover of the configuration matrix (time zone × DateStyle × pipelining ×
 * prepared statements × pool size × terminated backends); `npm run fuzz` runs all of it with a
 * larger budget (scripts/fuzz.ts). A failure names the configuration, the seed and path to replay,
 * the schema and the shrunk list of operations, and what each side returned.
 *
 * Where the package deliberately differs from stock Kysely, the reference follows the package's
 * documented behaviour (these are not reported as differences):
 * - Text with a NUL byte or a lone UTF-16 surrogate is refused with ValidationError before any
 *   SQL (stock pg would fail with 22021 or store U+FFFD): checked on its own, the `unstorable`
 *   operation, and never generated anywhere else.
 * - A where object never matches every row by accident: an `undefined` value (stock Kysely would
 *   compare with NULL) or an empty object is a ValidationError; the reference refuses them too.
 * - With a version column, every change bumps it (updateMany, upsert's update branch, increment,
 *   soft delete and restore), updateMany and increment refuse to set it, and increment of an
 *   integer column by a fraction is a ValidationError (stock pg: 22P02); the reference does the same.
 * - limit outside 1..1000 (or not an integer) and a negative offset are refused with
 *   ValidationError; the reference refuses them the same way.
 * - Writing a generated-always identity column, an upsert whose conflict columns are not among
 *   its values, update() without the version on a versioned repository, and an invalid Date (pg
 *   reads dates beyond JS's range as one, so a row read back can carry it) are ValidationError.
 * - restore() without softDelete is a DatabaseError without a SQLSTATE.
 * - On a table without a primary key (and no primaryKey option), findById, update, delete,
 *   restore (after its softDelete check), increment, decrement and keyset pages are a
 *   ValidationError (field primaryKey, rule required); the reference refuses them the same way.
 *   A composite key is passed as an object of its columns; a one-column key as its value or as
 *   `{ column: value }`; integer key columns as text, numbers or bigints.
 * - The key's columns (the primaryKey option's, in its order, else the table's primary key in
 *   its declared order) end every sort, those not already sorted by, in the direction of the last
 *   sort column (ascending without one); the reference does the same so that findMany pages agree.
 * - The reference's CamelCasePlugin keeps the keys inside jsonb values (maintainNestedObjectKeys):
 *   stock Kysely's default would rewrite `snake_key` inside documents, which the package's own
 *   statements do not do.
 *
 * What the test leaves out, or compares loosely, on purpose:
 * - A uuid key's default (the two tables would draw different uuids: every uuid is given).
 * - The soft-delete timestamp is now() on each side: compared as set / not set, filtered only by
 *   IS NULL, never sorted by. jsonb columns are not sorted by, and a where object never compares
 *   a jsonb column with an array (an array in a where object means IN).
 * - Dates for timestamptz columns are not generated before 1936 (pg writes a Date with its UTC
 *   offset in whole minutes, and the zones here had offsets with seconds before then: stock pg
 *   itself would store another instant); earlier instants are given as text.
 * - Errors are compared by kind (ValidationError, OptimisticLockError, ConnectionError, a SQLSTATE,
 *   a DatabaseError without one) and, for SQLSTATEs, by class; messages are shown, not compared.
 *   A ValidationError for field `primaryKey` is compared with its field and rule.
 * - A table without a key leaves ties in its order (or, without orderBy, the whole order)
 *   unspecified: its reads (findMany, findOne, findAndCount, offset pages) are compared as "a right
 *   answer": the package's rows are accepted when they are as many as the reference's, rows of the
 *   query (none used twice), each in the tie group of the reference's row at its position.
 * - Order is compared wherever it is specified, createMany's returned rows included (given order).
 */
import { expect } from 'chai';
import { CI_MATRIX, configurationId, FACTORS, uncoveredPairs, type Configuration } from './support/matrix.js';
import { runConfiguration } from './support/runner.js';
import { Features } from './support/values.js';
import { createScratchDatabase } from '../support/test-server.js';

/**
 * Per configuration: runs × operations per run (at most; about half on average) ≈ 2,000 operations.
 * Environment (for a local look, never set in CI): DIFF_RUNS, DIFF_OPS; FUZZ_CONFIG (one
 * configuration, by its id), FUZZ_SEED and FUZZ_PATH (replay a failure), FUZZ_DISABLE (see
 * FEATURES in support/values.ts).
 */
const CI_RUNS = Number(process.env['DIFF_RUNS'] ?? 40);
const CI_MAX_OPS = Number(process.env['DIFF_OPS'] ?? 100);
/** Fixed seeds, so that CI runs the same cases every time; FUZZ_SEED replays another. */
const BASE_SEED = 20_251_207;

const only = process.env['FUZZ_CONFIG'];
const REPLAY = "npx mocha 'spec/differential/differential.spec.ts'";

/**
 * One `it` per configuration: the property run on `engine` (the reference always on the server),
 * on a scratch database of its own; the ids are those a failure's replay hint names.
 */
function configurations(
  engine: 'postgres' | 'pglite',
  matrix: readonly Configuration[],
  options: { readonly runs: number; readonly firstSeed: number; readonly disabled: readonly string[] },
): void {
  let scratch: { url: string; drop(): Promise<void> } | undefined;

  before(async function () {
    this.timeout(60_000);
    scratch = await createScratchDatabase(engine === 'pglite' ? 'kr_diff_embedded' : 'kr_diff');
  });

  after(async function () {
    this.timeout(60_000);
    await scratch?.drop();
  });

  for (const [index, configuration] of matrix.entries()) {
    const id = (engine === 'pglite' ? 'pglite ' : '') + configurationId(configuration);
    if (only !== undefined && only !== id) continue;
    it(id, async function () {
      this.timeout(10 * 60_000);
      const given = process.env['FUZZ_SEED'];
      const path = process.env['FUZZ_PATH'];
      // FUZZ_DISABLE switches generator features off (to look past a known difference): never in CI
      const disabled = [process.env['FUZZ_DISABLE'], ...options.disabled].filter((name) => name !== undefined);
      const report = await runConfiguration(
        configuration,
        index,
        {
          runs: options.runs,
          maxOps: CI_MAX_OPS,
          seed: given !== undefined ? Number(given) : options.firstSeed + index,
          ...(path !== undefined ? { path } : {}),
          shrinkMs: 20_000,
          features: Features.parse(disabled.join(',')),
          replayCommand: REPLAY,
        },
        scratch!.url,
        engine,
      );
      if (report.failed) expect.fail(report.message);
    });
  }
}

describe('differential: Repository against stock Kysely', function () {
  it('runs a pairwise cover of the configuration matrix', () => {
    expect(uncoveredPairs(CI_MATRIX)).to.deep.equal([]);
  });

  configurations('postgres', CI_MATRIX, { runs: CI_RUNS, firstSeed: BASE_SEED, disabled: [] });
});

/**
 * The same property with the package on the embedded engine (pglite://) and the reference on the
 * server: an application's specs that pass on PGlite must mean the same on PostgreSQL. One
 * configuration per time zone, each with another DateStyle; pipelining, prepared statements, pool
 * size and faults do not apply to the embedded engine, and neither does a second session (the
 * serializable operation's outside update). Fewer runs than on the server: PGlite is slower.
 */
const EMBEDDED_RUNS = Number(process.env['DIFF_EMBEDDED_RUNS'] ?? 15);
const EMBEDDED_MATRIX: readonly Configuration[] = FACTORS.tz.map((tz, i) => ({
  tz,
  dateStyle: FACTORS.dateStyle[i]!,
  pipelining: false,
  prepared: false,
  poolSize: 1,
  faults: false,
}));

describe('differential: Repository on the embedded engine against stock Kysely on PostgreSQL', function () {
  configurations('pglite', EMBEDDED_MATRIX, {
    runs: EMBEDDED_RUNS,
    firstSeed: BASE_SEED + 100,
    disabled: ['outside-session'],
  });
});
