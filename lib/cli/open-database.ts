/**
 * The application's database, as the CLI opens it: DATABASE_URL and every DB_* variable (the SSH
 * tunnel's included) from the environment, else from `.env` in the project (or --env-file), through
 * the package's own loadConfig and createDatabase.
 */
import { existsSync } from 'node:fs';
import { devNull } from 'node:os';
import { resolve } from 'node:path';
import { loadConfig, type DatabaseConfig } from '../config.js';
import { createDatabase, type Database } from '../database.js';
import { silentLogger } from '../logger.js';

/** Where the CLI reads its configuration. */
export interface ConfigSource {
  readonly env: NodeJS.ProcessEnv;
  /** The project's directory: `.env` and relative paths are read from here. */
  readonly cwd: string;
  /** --env-file, relative to `cwd`; it must exist. */
  readonly envFile: string | undefined;
  /** Receives loadConfig's warnings (an unknown DB_* variable). */
  readonly warn: (message: string) => void;
}

/**
 * Loads the configuration of the project in `source.cwd`.
 *
 * @example
 * const config = loadProjectConfig({ env: process.env, cwd: process.cwd(), envFile: undefined, warn: console.warn });
 * @throws ConfigError naming the variable (DATABASE_URL when it is missing) or `envFile` when a
 * named file does not exist.
 */
export function loadProjectConfig(source: ConfigSource): DatabaseConfig {
  const projectEnv = resolve(source.cwd, '.env');
  // a project without .env reads none: never the .env of whatever directory the process started in
  const envFile =
    source.envFile !== undefined ? resolve(source.cwd, source.envFile) : existsSync(projectEnv) ? projectEnv : devNull;
  return loadConfig(source.env, { envFile, logger: { warn: (message: string) => source.warn(message) } });
}

/**
 * A Database on the project's configuration (opened lazily: the first statement connects, through
 * the SSH tunnel when one is configured). The caller closes it.
 *
 * @example
 * const database = openProjectDatabase(config);
 * try { await run(database.db); } finally { await database.close(); }
 * @throws nothing itself; connection failures come with the first statement.
 */
export function openProjectDatabase(config: DatabaseConfig): Database<unknown> {
  return createDatabase<unknown>({ config, logger: silentLogger });
}

/**
 * Where the configuration points, for messages: the URL with its password masked, and the SSH
 * host when the tunnel is configured.
 *
 * @example
 * describeTarget(config); // 'postgres://app:***@db.internal:5432/app via ssh deploy@bastion:22'
 * @throws nothing.
 */
export function describeTarget(config: DatabaseConfig): string {
  if (config.engine === 'pglite') return config.embeddedDir ? `pglite://${config.embeddedDir}` : 'pglite://';
  const via = config.ssh ? ` via ssh ${config.ssh.user}@${config.ssh.host}:${config.ssh.port}` : '';
  return `${config.connection?.redactedUrl ?? 'postgres'}${via}`;
}
