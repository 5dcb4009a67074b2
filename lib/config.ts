/**
 * Configuration from the environment (and a `.env` file): every variable parsed, checked and
 * defaulted in one place, into one readonly DatabaseConfig that never shows a secret.
 */
import { existsSync, readFileSync } from 'node:fs';
import { inspect, parseEnv } from 'node:util';
import { parseIntoClientConfig } from 'pg-connection-string';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { ConfigError } from './errors.js';
import type { Logger } from './logger.js';
import { redactUrl } from './redact.js';

/** Where one PostgreSQL server is, as pg needs it. */
export interface ConnectionTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** Not enumerable: logging the target never shows it. */
  readonly password?: string;
  /** From `sslmode` in the URL: false, or the TLS options pg uses. */
  readonly ssl: false | TlsOptions;
  /** The URL with its password masked, for messages. */
  readonly redactedUrl: string;
}

/** Pool settings shared by the primary's and each replica's pool. */
export interface PoolConfig {
  /** DB_POOL_SIZE: connections per pool. (Default: 10; 1..100) */
  readonly size: number;
  /** DB_POOL_TIMEOUT: ms to wait for a free connection before PoolTimeoutError. (Default: 30000) */
  readonly acquireTimeoutMs: number;
  /** DB_POOL_IDLE_TIMEOUT: ms an idle connection is kept. (Default: 10000) */
  readonly idleTimeoutMs: number;
  /** DB_POOL_RECYCLE: a connection's maximum lifetime in seconds. (Default: 3600) */
  readonly maxLifetimeSeconds: number;
}

/** The SSH tunnel, present when DB_SSH_HOST is set. */
export interface SshConfig {
  readonly host: string;
  /** DB_SSH_PORT (Default: 22) */
  readonly port: number;
  readonly user: string;
  /** DB_SSH_PRIVATE_KEY_PATH, when the key comes from a file. */
  readonly privateKeyPath?: string;
  /** The key's text (inline, or read from the path). Not enumerable. */
  readonly privateKey?: string;
  /** Not enumerable. */
  readonly passphrase?: string;
  /** Not enumerable. */
  readonly password?: string;
  /** DB_SSH_AGENT, else SSH_AUTH_SOCK: the agent's socket; undefined when off. */
  readonly agent?: string;
  /** DB_SSH_HOST_FINGERPRINT, `SHA256:…` as `ssh-keygen -lf` prints it. */
  readonly hostFingerprint?: string;
  /** DB_SSH_ACCEPT_UNKNOWN_HOST_KEY (Default: false) */
  readonly acceptUnknownHostKey: boolean;
  /** DB_SSH_KEEPALIVE_MS: interval of SSH keepalives. (Default: 5000) */
  readonly keepaliveIntervalMs: number;
  /** DB_SSH_KEEPALIVE_COUNT: unanswered keepalives before the connection counts as dead. (Default: 3) */
  readonly keepaliveCountMax: number;
  /** DB_SSH_READY_TIMEOUT_MS: ms for the SSH handshake and authentication. (Default: 10000) */
  readonly readyTimeoutMs: number;
  /** DB_SSH_EXEC_NODELAY: run `true` once after the handshake so sshd turns Nagle off. (Default: true) */
  readonly execNoDelay: boolean;
}

/** PgBouncer mode: DB_PGBOUNCER. */
export type PgBouncerMode = 'off' | 'session' | 'transaction' | 'auto';

/** Log level: DB_LOG_LEVEL. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** The validated configuration. Readonly; `String()`, JSON and `util.inspect` never show a secret. */
export interface DatabaseConfig {
  /** `postgres` for a server, `pglite` for the embedded engine. */
  readonly engine: 'postgres' | 'pglite';
  /** The primary server (engine `postgres`). */
  readonly connection: ConnectionTarget | undefined;
  /** The embedded engine's data directory; undefined keeps it in memory (engine `pglite`). */
  readonly embeddedDir: string | undefined;
  /** DATABASE_REPLICA_URLS: read replicas. */
  readonly replicas: readonly ConnectionTarget[];
  readonly pool: PoolConfig;
  /** DB_STATEMENT_TIMEOUT: ms before the server cancels a statement. (Default: 30000) */
  readonly statementTimeoutMs: number;
  /** DB_ECHO_SQL: log every statement with its (redacted) parameters. (Default: false) */
  readonly echoSql: boolean;
  /** DB_SLOW_QUERY_MS: queries at least this slow are logged at warn. (Default: 1000) */
  readonly slowQueryMs: number;
  /** DB_PREPARED_STATEMENTS: repositories run named prepared statements. (Default: true) */
  readonly preparedStatements: boolean;
  /**
   * DB_PREPARED_STATEMENTS_MAX: named prepared statements kept per pooled connection; past it the
   * least recently used is deallocated, so a backend's memory stays bounded however many query
   * shapes an application has. (Default: 100)
   */
  readonly preparedStatementsMax: number;
  /**
   * DB_PIPELINING: when every pooled connection is busy, single statements outside transactions
   * queue on a busy connection (pipelined, up to 8 deep) instead of waiting for a free one, and a
   * transaction's BEGIN travels with its first statement. (Default: true)
   */
  readonly pipelining: boolean;
  /** DB_PGBOUNCER (Default: off) */
  readonly pgbouncer: PgBouncerMode;
  /**
   * DB_READ_YOUR_WRITES_MS: after a write, reads go to the primary for this long. Undefined: for
   * the rest of the withReadYourWrites() scope the write ran in, and for 2000 ms after a write
   * made outside any scope.
   */
  readonly readYourWritesMs: number | undefined;
  /** DB_REPLICA_RETRY_MS: a replica marked down is tried again after this long. (Default: 5000) */
  readonly replicaRetryMs: number;
  /** DB_APPLICATION_NAME: shown in pg_stat_activity. (Default: kysely-repository) */
  readonly applicationName: string;
  /** DB_LOG_LEVEL (Default: info) */
  readonly logLevel: LogLevel;
  readonly ssh: SshConfig | undefined;
  /** Every secret value in this config, for log redaction. Not enumerable. */
  readonly secrets: readonly string[];
  /** A description with every secret masked. */
  toString(): string;
}

/** Options of loadConfig. */
export interface LoadConfigOptions {
  /** A dotenv file. Read when it exists; when named explicitly it must exist. (Default: `.env`) */
  readonly envFile?: string;
  /** Receives the warning about unknown `DB_*` variables. */
  readonly logger?: Pick<Logger, 'warn'>;
}

interface VariableSpec {
  readonly allowed: string;
  readonly secret?: boolean;
}

/** Every variable loadConfig reads, with what it allows (for messages and typo help). */
export const CONFIG_VARIABLES = {
  DATABASE_URL: { allowed: 'postgres://, postgresql://, pglite:// (in memory) or pglite:///absolute/dir' },
  DATABASE_REPLICA_URLS: { allowed: 'comma-separated postgres:// URLs' },
  DB_POOL_SIZE: { allowed: 'an integer from 1 to 100' },
  DB_POOL_TIMEOUT: { allowed: 'a positive integer (ms)' },
  DB_POOL_IDLE_TIMEOUT: { allowed: 'a positive integer (ms)' },
  DB_POOL_RECYCLE: { allowed: 'a positive integer (seconds)' },
  DB_STATEMENT_TIMEOUT: { allowed: 'a positive integer (ms)' },
  DB_ECHO_SQL: { allowed: 'true/false, 1/0, yes/no' },
  DB_SLOW_QUERY_MS: { allowed: 'a positive integer (ms)' },
  DB_PREPARED_STATEMENTS: { allowed: 'true/false, 1/0, yes/no' },
  DB_PREPARED_STATEMENTS_MAX: { allowed: 'an integer from 1 to 10000 (statements per connection)' },
  DB_PIPELINING: { allowed: 'true/false, 1/0, yes/no' },
  DB_PGBOUNCER: { allowed: 'off, session, transaction or auto (or true/false)' },
  DB_READ_YOUR_WRITES_MS: { allowed: 'a positive integer (ms)' },
  DB_REPLICA_RETRY_MS: { allowed: 'a positive integer (ms)' },
  DB_APPLICATION_NAME: { allowed: 'up to 63 printable ASCII characters' },
  DB_LOG_LEVEL: { allowed: 'error, warn, info or debug' },
  DB_EMBEDDED_DIR: { allowed: 'an absolute directory path' },
  DB_SSH_HOST: { allowed: 'a host name or address' },
  DB_SSH_PORT: { allowed: 'an integer from 1 to 65535' },
  DB_SSH_USER: { allowed: 'a user name (required with DB_SSH_HOST)' },
  DB_SSH_PRIVATE_KEY_PATH: { allowed: 'a readable private key file (not with DB_SSH_PRIVATE_KEY)' },
  DB_SSH_PRIVATE_KEY: { allowed: 'a PEM or OpenSSH private key', secret: true },
  DB_SSH_PASSPHRASE: { allowed: "the private key's passphrase", secret: true },
  DB_SSH_PASSWORD: { allowed: 'a password', secret: true },
  DB_SSH_AGENT: { allowed: 'an ssh-agent socket path, or false (default: SSH_AUTH_SOCK)' },
  DB_SSH_HOST_FINGERPRINT: { allowed: 'SHA256: followed by 43 base64 characters, as ssh-keygen -lf prints it' },
  DB_SSH_ACCEPT_UNKNOWN_HOST_KEY: { allowed: 'true/false, 1/0, yes/no' },
  DB_SSH_KEEPALIVE_MS: { allowed: 'a positive integer (ms)' },
  DB_SSH_KEEPALIVE_COUNT: { allowed: 'an integer from 1 to 100' },
  DB_SSH_READY_TIMEOUT_MS: { allowed: 'a positive integer (ms)' },
  DB_SSH_EXEC_NODELAY: { allowed: 'true/false, 1/0, yes/no' },
} as const satisfies Record<string, VariableSpec>;

/** A variable loadConfig reads. */
export type ConfigVariable = keyof typeof CONFIG_VARIABLES;

const MAX_TIMEOUT = 2_147_483_647; // setTimeout's and PostgreSQL's int limit

function shown(name: ConfigVariable, value: string): string {
  const spec: VariableSpec = CONFIG_VARIABLES[name];
  if (spec.secret) return '***';
  return JSON.stringify(name === 'DATABASE_URL' || name === 'DATABASE_REPLICA_URLS' ? redactUrl(value) : value);
}

function invalid(name: ConfigVariable, value: string, reason?: string): ConfigError {
  const allowed = CONFIG_VARIABLES[name].allowed;
  const why = reason ? ` (${reason})` : '';
  return new ConfigError(name, `${name}=${shown(name, value)} is not allowed${why}: expected ${allowed}`, allowed);
}

/** Reads one variable; an empty value counts as unset. */
class Reader {
  constructor(private readonly env: Readonly<Record<string, string | undefined>>) {}

  string(name: ConfigVariable): string | undefined {
    const value = this.env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  }

  int(name: ConfigVariable, fallback: number, min = 1, max = MAX_TIMEOUT): number {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw)) throw invalid(name, raw);
    const value = Number(raw);
    if (value < min || value > max) throw invalid(name, raw);
    return value;
  }

  optionalInt(name: ConfigVariable): number | undefined {
    return this.string(name) === undefined ? undefined : this.int(name, 0);
  }

  bool(name: ConfigVariable, fallback: boolean): boolean {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    const value = parseBoolean(raw);
    if (value === undefined) throw invalid(name, raw);
    return value;
  }
}

function parseBoolean(raw: string): boolean | undefined {
  const lower = raw.toLowerCase();
  if (['true', '1', 'yes'].includes(lower)) return true;
  if (['false', '0', 'no'].includes(lower)) return false;
  return undefined;
}

function parseTarget(name: 'DATABASE_URL' | 'DATABASE_REPLICA_URLS', url: string): ConnectionTarget {
  if (!/^postgres(ql)?:\/\//i.test(url)) throw invalid(name, url, 'not a postgres:// URL');
  let parsed: ReturnType<typeof parseIntoClientConfig>;
  try {
    parsed = parseIntoClientConfig(url);
  } catch (cause) {
    const error = invalid(name, url, 'unparsable');
    throw new ConfigError(name, error.message, error.allowed, { cause });
  }
  const port = parsed.port === undefined || String(parsed.port) === '' ? 5432 : Number(parsed.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(name, url, 'bad port');
  const database = parsed.database ?? '';
  if (database === '') throw invalid(name, url, 'no database name');
  const target: ConnectionTarget = {
    host: parsed.host ?? 'localhost',
    port,
    database,
    user: parsed.user ?? 'postgres',
    ssl: parsed.ssl ? (typeof parsed.ssl === 'object' ? parsed.ssl : {}) : false,
    redactedUrl: redactUrl(url),
  };
  if (parsed.password) hide(target, 'password', parsed.password);
  return target;
}

/** Defines a non-enumerable property: spread, JSON and inspect do not see it. */
function hide(target: object, key: PropertyKey, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: false, writable: false, configurable: false });
}

function parseSsh(read: Reader, env: Readonly<Record<string, string | undefined>>): SshConfig | undefined {
  const host = read.string('DB_SSH_HOST');
  if (host === undefined) return undefined;
  const user = read.string('DB_SSH_USER');
  if (user === undefined) {
    throw new ConfigError(
      'DB_SSH_USER',
      'DB_SSH_USER is required when DB_SSH_HOST is set',
      CONFIG_VARIABLES.DB_SSH_USER.allowed,
    );
  }
  const keyPath = read.string('DB_SSH_PRIVATE_KEY_PATH');
  const inlineKey = read.string('DB_SSH_PRIVATE_KEY');
  if (keyPath !== undefined && inlineKey !== undefined) {
    throw new ConfigError(
      'DB_SSH_PRIVATE_KEY_PATH',
      'DB_SSH_PRIVATE_KEY_PATH and DB_SSH_PRIVATE_KEY are both set: choose one',
      CONFIG_VARIABLES.DB_SSH_PRIVATE_KEY_PATH.allowed,
    );
  }
  let privateKey = inlineKey?.replace(/\\n/g, '\n');
  if (keyPath !== undefined) {
    try {
      privateKey = readFileSync(keyPath, 'utf8');
    } catch (cause) {
      throw new ConfigError(
        'DB_SSH_PRIVATE_KEY_PATH',
        `DB_SSH_PRIVATE_KEY_PATH=${JSON.stringify(keyPath)} cannot be read: ${(cause as Error).message}`,
        CONFIG_VARIABLES.DB_SSH_PRIVATE_KEY_PATH.allowed,
        { cause },
      );
    }
  }
  if (privateKey !== undefined && !/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(privateKey)) {
    throw invalid(
      keyPath === undefined ? 'DB_SSH_PRIVATE_KEY' : 'DB_SSH_PRIVATE_KEY_PATH',
      keyPath ?? '***',
      'not a private key',
    );
  }
  const fingerprint = read.string('DB_SSH_HOST_FINGERPRINT');
  if (fingerprint !== undefined && !/^SHA256:[A-Za-z0-9+/]{43}$/.test(fingerprint)) {
    throw invalid('DB_SSH_HOST_FINGERPRINT', fingerprint);
  }
  const agentSetting = read.string('DB_SSH_AGENT');
  const agentOff = agentSetting !== undefined && parseBoolean(agentSetting) === false;
  const agentPath = agentOff ? undefined : (agentSetting ?? (env['SSH_AUTH_SOCK'] || undefined));
  if (agentPath !== undefined && parseBoolean(agentPath) === true) {
    throw invalid('DB_SSH_AGENT', agentPath, 'name the socket, or leave it unset to use SSH_AUTH_SOCK');
  }

  const ssh: SshConfig = {
    host,
    port: read.int('DB_SSH_PORT', 22, 1, 65535),
    user,
    ...(keyPath === undefined ? {} : { privateKeyPath: keyPath }),
    ...(agentPath === undefined ? {} : { agent: agentPath }),
    ...(fingerprint === undefined ? {} : { hostFingerprint: fingerprint }),
    acceptUnknownHostKey: read.bool('DB_SSH_ACCEPT_UNKNOWN_HOST_KEY', false),
    keepaliveIntervalMs: read.int('DB_SSH_KEEPALIVE_MS', 5_000),
    keepaliveCountMax: read.int('DB_SSH_KEEPALIVE_COUNT', 3, 1, 100),
    readyTimeoutMs: read.int('DB_SSH_READY_TIMEOUT_MS', 10_000),
    execNoDelay: read.bool('DB_SSH_EXEC_NODELAY', true),
  };
  if (privateKey !== undefined) hide(ssh, 'privateKey', privateKey);
  const passphrase = read.string('DB_SSH_PASSPHRASE');
  if (passphrase !== undefined) hide(ssh, 'passphrase', passphrase);
  const password = read.string('DB_SSH_PASSWORD');
  if (password !== undefined) hide(ssh, 'password', password);
  return ssh;
}

function parsePgBouncer(read: Reader): PgBouncerMode {
  const raw = read.string('DB_PGBOUNCER');
  if (raw === undefined) return 'off';
  const lower = raw.toLowerCase();
  if (lower === 'off' || lower === 'session' || lower === 'transaction' || lower === 'auto') return lower;
  const bool = parseBoolean(raw);
  if (bool === undefined) throw invalid('DB_PGBOUNCER', raw);
  return bool ? 'transaction' : 'off';
}

function parseLogLevel(read: Reader): LogLevel {
  const raw = read.string('DB_LOG_LEVEL');
  if (raw === undefined) return 'info';
  const lower = raw.toLowerCase();
  if (lower === 'error' || lower === 'warn' || lower === 'info' || lower === 'debug') return lower;
  throw invalid('DB_LOG_LEVEL', raw);
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The known variable closest to `name`. */
export function closestVariable(name: string): ConfigVariable {
  const names = Object.keys(CONFIG_VARIABLES) as ConfigVariable[];
  return names.reduce((best, candidate) => (distance(name, candidate) < distance(name, best) ? candidate : best));
}

function readEnvFile(path: string, explicit: boolean): Record<string, string> {
  if (!existsSync(path)) {
    if (explicit) {
      throw new ConfigError('envFile', `envFile ${JSON.stringify(path)} does not exist`, 'an existing dotenv file');
    }
    return {};
  }
  return parseEnv(readFileSync(path, 'utf8')) as Record<string, string>;
}

function describe(config: DatabaseConfig): Record<string, unknown> {
  return {
    engine: config.engine,
    connection: config.connection?.redactedUrl,
    embeddedDir: config.embeddedDir,
    replicas: config.replicas.map((r) => r.redactedUrl),
    pool: config.pool,
    statementTimeoutMs: config.statementTimeoutMs,
    echoSql: config.echoSql,
    slowQueryMs: config.slowQueryMs,
    preparedStatements: config.preparedStatements,
    preparedStatementsMax: config.preparedStatementsMax,
    pipelining: config.pipelining,
    pgbouncer: config.pgbouncer,
    ssh: config.ssh && {
      host: config.ssh.host,
      port: config.ssh.port,
      user: config.ssh.user,
      privateKey: config.ssh.privateKey === undefined ? undefined : '***',
      passphrase: config.ssh.passphrase === undefined ? undefined : '***',
      password: config.ssh.password === undefined ? undefined : '***',
      agent: config.ssh.agent,
      hostFingerprint: config.ssh.hostFingerprint,
    },
  };
}

/**
 * Reads and validates the configuration from `env` (default: process.env) and a dotenv file
 * (default `.env`, read when it exists; the environment wins over the file).
 *
 * @example
 * const config = loadConfig(process.env, { envFile: '.env.local' });
 * @throws ConfigError naming the variable, the value given (secrets masked) and what is allowed;
 * also when DATABASE_URL is missing or a named envFile does not exist.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: LoadConfigOptions = {}): DatabaseConfig {
  if (typeof env !== 'object' || env === null) {
    throw new ConfigError('env', 'the environment must be an object of strings', 'an object such as process.env');
  }
  const fromFile = readEnvFile(options.envFile ?? '.env', options.envFile !== undefined);
  // no prototype: a `__proto__` key is a variable like any other, never the object's prototype
  const merged: Record<string, string | undefined> = Object.create(null) as Record<string, string | undefined>;
  for (const [key, value] of [...Object.entries(fromFile), ...Object.entries(env)]) {
    if (value === undefined || value === '') continue;
    if (typeof value !== 'string') {
      throw new ConfigError(
        key,
        `${key} must be a string, not ${Array.isArray(value) ? 'an array' : typeof value}`,
        'a string',
      );
    }
    merged[key] = value;
  }
  const read = new Reader(merged);

  for (const name of Object.keys(merged)) {
    if (name.startsWith('DB_') && !(name in CONFIG_VARIABLES)) {
      options.logger?.warn(
        `unknown configuration variable ${name} is ignored; did you mean ${closestVariable(name)}?`,
        {
          variable: name,
        },
      );
    }
  }

  const url = read.string('DATABASE_URL');
  if (url === undefined) {
    throw new ConfigError('DATABASE_URL', 'DATABASE_URL is required', CONFIG_VARIABLES.DATABASE_URL.allowed);
  }
  let engine: DatabaseConfig['engine'];
  let connection: ConnectionTarget | undefined;
  let embeddedDir = read.string('DB_EMBEDDED_DIR');
  if (/^pglite:/i.test(url)) {
    const match = url.match(/^pglite:\/\/(\/.*)?$/i);
    if (!match) throw invalid('DATABASE_URL', url);
    engine = 'pglite';
    embeddedDir = match[1] ?? embeddedDir;
  } else {
    engine = 'postgres';
    connection = parseTarget('DATABASE_URL', url);
  }
  if (embeddedDir !== undefined && !embeddedDir.startsWith('/')) throw invalid('DB_EMBEDDED_DIR', embeddedDir);

  const replicaUrls = read.string('DATABASE_REPLICA_URLS');
  const replicas = (replicaUrls ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((r) => parseTarget('DATABASE_REPLICA_URLS', r));

  const applicationName = read.string('DB_APPLICATION_NAME') ?? 'kysely-repository';
  if (!/^[\x20-\x7e]{1,63}$/.test(applicationName)) throw invalid('DB_APPLICATION_NAME', applicationName);

  const ssh = parseSsh(read, merged);
  const secrets = [
    connection?.password,
    ...replicas.map((r) => r.password),
    ssh?.password,
    ssh?.passphrase,
    ssh?.privateKey,
  ].filter((s): s is string => typeof s === 'string' && s !== '');

  const config: DatabaseConfig = {
    engine,
    connection,
    embeddedDir,
    replicas,
    pool: {
      size: read.int('DB_POOL_SIZE', 10, 1, 100),
      acquireTimeoutMs: read.int('DB_POOL_TIMEOUT', 30_000),
      idleTimeoutMs: read.int('DB_POOL_IDLE_TIMEOUT', 10_000),
      maxLifetimeSeconds: read.int('DB_POOL_RECYCLE', 3_600),
    },
    statementTimeoutMs: read.int('DB_STATEMENT_TIMEOUT', 30_000),
    echoSql: read.bool('DB_ECHO_SQL', false),
    slowQueryMs: read.int('DB_SLOW_QUERY_MS', 1_000),
    preparedStatements: read.bool('DB_PREPARED_STATEMENTS', true),
    preparedStatementsMax: read.int('DB_PREPARED_STATEMENTS_MAX', 100, 1, 10_000),
    pipelining: read.bool('DB_PIPELINING', true),
    pgbouncer: parsePgBouncer(read),
    readYourWritesMs: read.optionalInt('DB_READ_YOUR_WRITES_MS'),
    replicaRetryMs: read.int('DB_REPLICA_RETRY_MS', 5_000),
    applicationName,
    logLevel: parseLogLevel(read),
    ssh,
    secrets,
  };
  hide(config, 'secrets', Object.freeze(secrets));
  return sealConfig(config);
}

/**
 * Freezes a config and gives it redacting `toString`, `toJSON` and `util.inspect`. Use it on a
 * DatabaseConfig built by hand (loadConfig already does).
 */
export function sealConfig(config: DatabaseConfig): DatabaseConfig {
  if (Object.isFrozen(config)) return config;
  if (!Object.prototype.hasOwnProperty.call(config, 'secrets')) hide(config, 'secrets', []);
  hide(config, 'toString', () => `DatabaseConfig ${JSON.stringify(describe(config))}`);
  hide(config, 'toJSON', () => describe(config));
  hide(config, inspect.custom, () => `DatabaseConfig ${inspect(describe(config), { depth: 4 })}`);
  return Object.freeze(config);
}
