/**
 * A load scenario from start to verdict: a Database with the pool under test, a UserRepository
 * (real bcrypt, cost 4), the ledger, the load driver, the process watch and the pool sampler;
 * then stop, look at the pool, close, count the server's backends, and compare the ledger with
 * the table. Each reliability spec that runs load builds one of these.
 */
import bcrypt from 'bcrypt';
import {
  createDatabase,
  loadConfig,
  migrateToLatest,
  silentLogger,
  UserRepository,
  type Database,
  type DatabaseStatus,
  type DB,
  type PoolStatus,
} from '../../../lib/index.js';
import { Ledger, type LedgerReport } from './ledger.js';
import type { Figures } from './summary.js';
import { LoadDriver, type OpRecord } from './load-driver.js';
import { backendCount, backendsSettle, readUsers, withClient } from './pg-probe.js';
import { samplePool, type PoolGauges, type PoolSampler } from './pool-gauges.js';
import { watchProcess, type ProcessWatch } from './process-watch.js';

/** Options of LoadScenario.open. */
export interface ScenarioOptions {
  /** The database the load runs on, as the package reaches it (DATABASE_URL). */
  readonly url: string;
  /** The same database as this process reaches it directly (for checks). (Default: url) */
  readonly directUrl?: string;
  /** DB_APPLICATION_NAME of the pool under test: how its backends are found in pg_stat_activity. */
  readonly applicationName: string;
  readonly clients: number;
  readonly poolSize: number;
  /** Username prefix (a few lowercase letters and digits). */
  readonly prefix: string;
  /** More configuration (DB_SSH_* for the tunnel), over the defaults here. */
  readonly env?: Readonly<Record<string, string>>;
  /** Run the migrations first. (Default: true) */
  readonly migrate?: boolean;
}

/** What the end of a scenario found. */
export interface ScenarioReport {
  /** Calls still unsettled when the clients were told to stop (plus the bound). */
  readonly unsettledAtStop: readonly OpRecord[];
  readonly pool: PoolGauges;
  /** The pool right after the clients stopped, before close(). */
  readonly poolAfterLoad: PoolStatus;
  /** status() right after the clients stopped, before close() (counters, tunnel). */
  readonly statusAfterLoad: DatabaseStatus;
  readonly backendsBefore: number;
  /** Backends of the pool's application_name once close() returned (and they had a moment to exit). */
  readonly backendsAfterClose: number;
  readonly closeMs: number;
  readonly ledger: LedgerReport;
  /** Unhandled rejections, uncaught exceptions, MaxListenersExceededWarnings. */
  readonly processEvents: readonly string[];
}

const POOL_TIMEOUT_MS = 10_000;
const STATEMENT_TIMEOUT_MS = 10_000;

/**
 * One load scenario.
 *
 * @example
 * const scenario = await LoadScenario.open({ url, applicationName: 'kr-rel-load', clients: 200, poolSize: 10, prefix: 'ld' });
 * scenario.start();
 * await sleep(20_000);
 * const report = await scenario.finish();
 */
export class LoadScenario {
  readonly database: Database<DB>;
  readonly users: UserRepository;
  readonly ledger = new Ledger();
  readonly driver: LoadDriver;
  readonly options: ScenarioOptions;
  readonly #watch: ProcessWatch;
  readonly #backendsBefore: number;
  #pool: PoolSampler | undefined;

  private constructor(options: ScenarioOptions, backendsBefore: number) {
    this.options = options;
    this.#backendsBefore = backendsBefore;
    this.#watch = watchProcess();
    const config = loadConfig(
      {
        DATABASE_URL: options.url,
        DB_POOL_SIZE: String(options.poolSize),
        DB_POOL_TIMEOUT: String(POOL_TIMEOUT_MS),
        DB_STATEMENT_TIMEOUT: String(STATEMENT_TIMEOUT_MS),
        DB_APPLICATION_NAME: options.applicationName,
        ...options.env,
      },
      { envFile: '/dev/null' },
    );
    this.database = createDatabase<DB>({ config, logger: silentLogger });
    this.users = new UserRepository(this.database.db, { policy: { bcryptCost: 4 }, logger: silentLogger });
    this.driver = new LoadDriver({
      clients: options.clients,
      users: this.users,
      db: this.database.db,
      ledger: this.ledger,
      prefix: options.prefix,
    });
  }

  /**
   * Counts the backends already there (the baseline), opens the Database and migrates.
   * @throws whatever connecting or migrating throws.
   */
  static async open(options: ScenarioOptions): Promise<LoadScenario> {
    const direct = options.directUrl ?? options.url;
    const before = await withClient(direct, (client) => backendCount(client, options.applicationName));
    const scenario = new LoadScenario(options, before);
    try {
      if (options.migrate !== false) await migrateToLatest(scenario.database.db);
    } catch (error) {
      await scenario.abandon().catch(() => undefined);
      throw error;
    }
    return scenario;
  }

  /** The database as this process reaches it directly. */
  get directUrl(): string {
    return this.options.directUrl ?? this.options.url;
  }

  /** Starts the load and the pool sampler. */
  start(): void {
    this.#pool = samplePool(this.database as Database<unknown>);
    this.driver.start();
  }

  /**
   * Stops the load (waiting up to `stopBoundMs` for the calls in flight), reads the pool,
   * closes the Database, waits up to 5 s for its backends to exit, and compares the ledger with
   * the table.
   */
  async finish(stopBoundMs = 20_000): Promise<ScenarioReport> {
    const unsettledAtStop = await this.driver.stop(stopBoundMs);
    const pool = this.#pool?.stop() ?? { samples: 0, maxTotal: 0, maxWaiting: 0, max: 0, overMax: 0 };
    const statusAfterLoad = this.database.status();
    const poolAfterLoad = statusAfterLoad.pool;
    const closing = performance.now();
    await this.database.close();
    const closeMs = performance.now() - closing;
    const backendsAfterClose = await backendsSettle(
      this.directUrl,
      this.options.applicationName,
      this.#backendsBefore,
      5_000,
    );
    const ledger = await this.ledger.verify(await readUsers(this.directUrl), (password, hash) =>
      bcrypt.compare(password, hash),
    );
    return {
      unsettledAtStop,
      pool,
      poolAfterLoad,
      statusAfterLoad,
      backendsBefore: this.#backendsBefore,
      backendsAfterClose,
      closeMs,
      ledger,
      processEvents: [...this.#watch.stop()],
    };
  }

  /** Ends everything without verdicts (for `after` hooks when a spec failed midway). Safe to call twice. */
  async abandon(): Promise<void> {
    await this.driver.stop(5_000);
    this.#pool?.stop();
    this.#watch.stop();
    await this.database.close();
  }
}

/**
 * The summary figures of a finished load scenario (its driver's operations and errors, its
 * ledger's writes), for printFigures.
 */
export function scenarioFigures(
  spec: string,
  driver: LoadDriver,
  report: ScenarioReport,
  started: number,
  notes: readonly string[],
): Figures {
  return {
    spec,
    operations: driver.operations,
    errorsByClass: driver.errorsByClass(),
    acknowledgedWrites: report.ledger.acknowledgedWrites,
    unconfirmedWrites: report.ledger.unconfirmedWrites,
    lostWrites: report.ledger.lostWrites.length,
    hostileInputs: 0,
    seconds: (performance.now() - started) / 1000,
    notes,
  };
}
