/**
 * Configuration from the environment (and a `.env` file): every variable parsed, checked and
 * defaulted in one place, into one readonly DatabaseConfig that never shows a secret.
 */
import { existsSync, readFileSync } from 'node:fs';
import { inspect, parseEnv } from 'node:util';
import { parseIntoClientConfig } from 'pg-connection-string';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { isPlainObject, readOptions } from './arguments.js';
import { ConfigError, ValidationError } from './errors.js';
import type { Logger } from './logger.js';
import { splitHostList } from './host-list.js';
import { parseConnectionUrl, redactText, redactUrl, SECRET_URL_PARAMETER, URL_SCHEME } from './redact.js';

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
  /**
   * The URL with its password masked, for messages: the userinfo password and the value of every
   * query parameter that may carry a secret (`password`, `sslpassword`, `sslkey`, any name with
   * pass, secret, token or credential in it).
   */
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
  /**
   * DB_MAX_OVERFLOW: connections the pool may open beyond `size` under load (SQLAlchemy's
   * `max_overflow`), closed again once idle for `idleTimeoutMs`. When it is above 0, the first
   * `size` connections stay open while idle (until DB_POOL_RECYCLE), as QueuePool keeps its
   * `pool_size`; at 0 every idle connection closes after `idleTimeoutMs`. Undefined counts as 0.
   * (Default: 0; 0..100)
   */
  readonly maxOverflow?: number;
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

/**
 * libpq's `target_session_attrs`: which server a connection may settle on. `read-write` and
 * `read-only` go by the server's `transaction_read_only`; `primary` and `standby` by whether it is
 * in recovery; `prefer-standby` takes a standby when one answers, else any server.
 */
export type TargetSessionAttrs = 'any' | 'read-write' | 'read-only' | 'primary' | 'standby' | 'prefer-standby';

/** The values `target_session_attrs` allows, in libpq's order. */
export const TARGET_SESSION_ATTRS: readonly TargetSessionAttrs[] = [
  'any',
  'read-write',
  'read-only',
  'primary',
  'standby',
  'prefer-standby',
];

/**
 * A DATABASE_URL that lists several hosts (`postgres://u@h1:5432,h2:5433/db`) or names
 * `target_session_attrs`, `load_balance_hosts` or `connect_timeout`: new connections go to the
 * first host that answers and matches, and the Database follows a failover to another host.
 */
export interface FailoverConfig {
  /** Every host of DATABASE_URL, in the order written; `connection` is the first. */
  readonly hosts: readonly ConnectionTarget[];
  /** `target_session_attrs` (Default: any) */
  readonly targetSessionAttrs: TargetSessionAttrs;
  /** `load_balance_hosts`: `disable` tries the hosts in order, `random` in a new random order each time. (Default: disable) */
  readonly loadBalanceHosts: 'disable' | 'random';
  /** `connect_timeout` in ms: bound on reaching one host; undefined: none of its own (DB_POOL_TIMEOUT bounds the wait). */
  readonly connectTimeoutMs: number | undefined;
  /**
   * DB_FAILOVER_TIMEOUT_MS: how long finding a matching host may take (rounds over every host, with
   * jittered backoff between rounds) before the connection fails with ConnectionError. (Default: 30000)
   */
  readonly timeoutMs: number;
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
  /**
   * Present when DATABASE_URL lists several hosts or names libpq's `target_session_attrs`,
   * `load_balance_hosts` or `connect_timeout`: then `connection` is its first host.
   */
  readonly failover?: FailoverConfig;
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
   * queue on a busy connection (pipelined, up to 8 deep, never behind a statement that has run 3 ms
   * or is known to be slow) instead of waiting for a free one, and a
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
  /**
   * DB_CURSOR_SECRET: the key that signs pagination cursors (at least 32 characters). A secret:
   * not enumerable, and descriptions show only whether it is set.
   */
  readonly cursorSecret?: string;
  /**
   * Every secret value in this config, for log redaction: database passwords (from the userinfo or
   * a `?password=` parameter, decoded and as written), other secret URL parameters, TLS key text,
   * the SSH key, passphrase and password, and the cursor secret. Not enumerable.
   */
  readonly secrets: readonly string[];
  /** A description with every secret masked. */
  toString(): string;
}

/** Options of loadConfig. */
export interface LoadConfigOptions {
  /** A dotenv file. Read when it exists; when named explicitly it must exist. (Default: `.env`) */
  readonly envFile?: string;
  /**
   * Receives the warning about unknown `DB_*` variables (a typo such as DB_POOLSIZE), naming the
   * closest known one. Without it, createDatabase given this config warns through its logger.
   */
  readonly logger?: Pick<Logger, 'warn'>;
}

interface VariableSpec {
  readonly allowed: string;
  readonly secret?: boolean;
}

/** Every variable loadConfig reads, with what it allows (for messages and typo help). */
export const CONFIG_VARIABLES = {
  DATABASE_URL: {
    allowed:
      'postgres://, postgresql:// (one host, or several as host1:port1,host2:port2), pglite:// (in memory) or pglite:///absolute/dir',
  },
  DATABASE_REPLICA_URLS: { allowed: 'comma-separated postgres:// URLs' },
  DB_POOL_SIZE: { allowed: 'an integer from 1 to 100' },
  DB_POOL_TIMEOUT: { allowed: 'a positive integer (ms)' },
  DB_POOL_IDLE_TIMEOUT: { allowed: 'a positive integer (ms)' },
  DB_POOL_RECYCLE: { allowed: 'a positive integer (seconds)' },
  DB_MAX_OVERFLOW: { allowed: 'an integer from 0 to 100 (connections beyond DB_POOL_SIZE under load)' },
  DB_STATEMENT_TIMEOUT: { allowed: 'a positive integer (ms)' },
  DB_ECHO_SQL: { allowed: 'true/false, 1/0, yes/no' },
  DB_SLOW_QUERY_MS: { allowed: 'a positive integer (ms)' },
  DB_PREPARED_STATEMENTS: { allowed: 'true/false, 1/0, yes/no' },
  DB_PREPARED_STATEMENTS_MAX: { allowed: 'an integer from 1 to 10000 (statements per connection)' },
  DB_PIPELINING: { allowed: 'true/false, 1/0, yes/no' },
  DB_PGBOUNCER: { allowed: 'off, session, transaction or auto (or true/false)' },
  DB_READ_YOUR_WRITES_MS: { allowed: 'a positive integer (ms)' },
  DB_REPLICA_RETRY_MS: { allowed: 'a positive integer (ms)' },
  DB_FAILOVER_TIMEOUT_MS: { allowed: 'a positive integer (ms)' },
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
  DB_CURSOR_SECRET: { allowed: 'at least 32 characters (a random secret that signs cursors)', secret: true },
} as const satisfies Record<string, VariableSpec>;

/** A variable loadConfig reads. */
export type ConfigVariable = keyof typeof CONFIG_VARIABLES;

const MAX_TIMEOUT = 2_147_483_647; // setTimeout's and PostgreSQL's int limit

function shown(name: ConfigVariable, value: string): string {
  const spec: VariableSpec = CONFIG_VARIABLES[name];
  if (spec.secret) return '***';
  return JSON.stringify(name === 'DATABASE_URL' || name === 'DATABASE_REPLICA_URLS' ? redactUrl(value) : value);
}

/**
 * The secrets a connection URL carries, decoded and as written (either may reach a log line). An
 * sslkey that names a file is not one: only key text put there by mistake is.
 */
function urlSecrets(url: string): string[] {
  const found = parseConnectionUrl(url);
  if (!found) return [];
  const isSecret = (key: string, value: string) =>
    SECRET_URL_PARAMETER.test(key) && (key.toLowerCase() !== 'sslkey' || looksLikeKeyText(value));
  const secrets = [found.url.password];
  for (const [key, value] of found.url.searchParams) if (isSecret(key, value)) secrets.push(value);
  for (const pair of found.url.search.slice(1).split('&')) {
    const at = pair.indexOf('=');
    const value = pair.slice(at + 1);
    if (at > 0 && isSecret(decodeSafely(pair.slice(0, at)), decodeSafely(value))) secrets.push(value);
  }
  return secrets.flatMap((s) => [s, decodeSafely(s)]);
}

function decodeSafely(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * An error to keep as a ConfigError's cause, in place of one whose message may quote a secret:
 * the message up to its first colon (past it, libraries quote the input), with `secrets` masked.
 */
function safeCause(cause: unknown, secrets: readonly string[]): Error {
  const original = cause instanceof Error ? cause : new Error(String(cause));
  const head = original.message.split(/:\s/)[0] ?? '';
  const safe = new Error(redactText(head, secrets).slice(0, 200));
  safe.name = original.name;
  const { code } = original as { code?: unknown };
  if (typeof code === 'string') Object.assign(safe, { code });
  return safe;
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

/** The ConfigError for a URL whose scheme is wrong: it names the scheme, never the rest. */
function badScheme(name: 'DATABASE_URL' | 'DATABASE_REPLICA_URLS', url: string, label: string): ConfigError {
  const allowed = CONFIG_VARIABLES[name].allowed;
  const schemes =
    name === 'DATABASE_URL' ? 'postgres:// or postgresql:// or pglite://' : 'postgres:// or postgresql://';
  const scheme = url.match(URL_SCHEME)?.[1];
  const found =
    scheme === undefined ? 'it does not start with a scheme://' : `it starts with ${JSON.stringify(scheme)}`;
  return new ConfigError(name, `${label} must start with ${schemes} (${found}): expected ${allowed}`, allowed);
}

/** The sslmode values a URL may give (libpq's, and pg's no-verify). */
const SSL_MODES = new Set(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify']);

/**
 * One server's URL, parsed by pg-connection-string. `label` names it in messages (`DATABASE_URL`,
 * `DATABASE_REPLICA_URLS entry 2`).
 */
function parseTarget(
  name: 'DATABASE_URL' | 'DATABASE_REPLICA_URLS',
  url: string,
  label: string = name,
): ConnectionTarget {
  if (!/^postgres(ql)?:\/\//i.test(url)) throw badScheme(name, url, label);
  // pg-connection-string takes any other sslmode (a typo too) for full verification: say so early
  const sslmode = /[?&]sslmode=([^&#]*)/i.exec(url)?.[1];
  if (sslmode !== undefined && !SSL_MODES.has(decodeURIComponent(sslmode))) {
    const allowed = [...SSL_MODES].join(', ');
    throw new ConfigError(name, `${label} has an sslmode that is not one of ${allowed}`, allowed);
  }
  let parsed: ReturnType<typeof parseIntoClientConfig>;
  try {
    parsed = parseIntoClientConfig(url);
  } catch (cause) {
    const allowed = CONFIG_VARIABLES[name].allowed;
    const { code, syscall } = cause as { code?: unknown; syscall?: unknown };
    // pg-connection-string reads the files named by sslcert, sslkey and sslrootcert
    const what =
      syscall === 'open' || syscall === 'read'
        ? `a file named by its sslcert, sslkey or sslrootcert parameter cannot be read (${String(code)})`
        : 'it does not parse as a URL (is the port a number up to 65535? are special characters in the user name and password percent-encoded?)';
    throw new ConfigError(name, `${label} is not a valid postgres:// URL: ${what}; expected ${allowed}`, allowed, {
      cause: safeCause(cause, [url, ...urlSecrets(url)]),
    });
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

/** libpq's parameters of a multi-host URL, which pg-connection-string passes through unread. */
const FAILOVER_PARAMETERS = ['target_session_attrs', 'load_balance_hosts', 'connect_timeout'] as const;

/** `url` as one URL per host (itself when it names one host). */
function singleHostUrls(url: string): readonly string[] {
  return splitHostList(url)?.urls ?? [url];
}

/**
 * DATABASE_URL of engine postgres: its first host as `connection`, and, when it lists several
 * hosts or names a libpq failover parameter, every host and those parameters as `failover`.
 * @throws ConfigError (variable DATABASE_URL) naming the host entry or parameter at fault.
 */
function parseServers(
  url: string,
  read: Reader,
): { connection: ConnectionTarget; failover: FailoverConfig | undefined } {
  const list = splitHostList(url);
  if (list?.bad !== undefined) {
    const allowed = CONFIG_VARIABLES.DATABASE_URL.allowed;
    throw new ConfigError(
      'DATABASE_URL',
      `DATABASE_URL lists ${list.hosts.length} hosts and host ${list.bad + 1} is ${list.hosts[list.bad] === '' ? 'empty' : 'not host or host:port'}: expected ${allowed}`,
      allowed,
    );
  }
  const hosts = list
    ? list.urls.map((one, i) => parseTarget('DATABASE_URL', one, `DATABASE_URL host ${i + 1}`))
    : [parseTarget('DATABASE_URL', url)];
  const first = parseConnectionUrl(list?.urls[0] ?? url)?.url.searchParams;
  const parameter = (name: (typeof FAILOVER_PARAMETERS)[number]) => first?.get(name) ?? undefined;
  const timeoutMs = read.int('DB_FAILOVER_TIMEOUT_MS', 30_000);
  if (!list && FAILOVER_PARAMETERS.every((name) => parameter(name) === undefined)) {
    return { connection: hosts[0]!, failover: undefined };
  }
  const badParameter = (name: string, allowed: string): ConfigError =>
    new ConfigError('DATABASE_URL', `DATABASE_URL has a ${name} that is not allowed: expected ${allowed}`, allowed);
  const attrs = parameter('target_session_attrs') ?? 'any';
  if (!(TARGET_SESSION_ATTRS as readonly string[]).includes(attrs)) {
    throw badParameter('target_session_attrs', `one of ${TARGET_SESSION_ATTRS.join(', ')}`);
  }
  const balance = parameter('load_balance_hosts') ?? 'disable';
  if (balance !== 'disable' && balance !== 'random') throw badParameter('load_balance_hosts', 'disable or random');
  const connectTimeout = parameter('connect_timeout');
  if (connectTimeout !== undefined && !/^\d{1,7}$/.test(connectTimeout)) {
    throw badParameter('connect_timeout', 'a whole number of seconds (0: no timeout of its own)');
  }
  const seconds = connectTimeout === undefined ? 0 : Number(connectTimeout);
  return {
    connection: hosts[0]!,
    failover: {
      hosts,
      targetSessionAttrs: attrs as TargetSessionAttrs,
      loadBalanceHosts: balance,
      connectTimeoutMs: seconds > 0 ? seconds * 1000 : undefined,
      timeoutMs,
    },
  };
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
  if (keyPath !== undefined && looksLikeKeyText(keyPath)) {
    throw new ConfigError(
      'DB_SSH_PRIVATE_KEY_PATH',
      'DB_SSH_PRIVATE_KEY_PATH holds key text, not a file path: put the key itself in DB_SSH_PRIVATE_KEY',
      CONFIG_VARIABLES.DB_SSH_PRIVATE_KEY_PATH.allowed,
    );
  }
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
  const passphrase = read.string('DB_SSH_PASSPHRASE');
  if (privateKey !== undefined) checkPrivateKey(privateKey, passphrase, keyPath);
  if (privateKey !== undefined) hide(ssh, 'privateKey', privateKey);
  if (passphrase !== undefined) hide(ssh, 'passphrase', passphrase);
  const password = read.string('DB_SSH_PASSWORD');
  if (password !== undefined) hide(ssh, 'password', password);
  return ssh;
}

/** Text that is a key (or part of one) rather than a file path. */
function looksLikeKeyText(text: string): boolean {
  return /-----BEGIN|PRIVATE KEY|\n/.test(text) || (text.length >= 60 && /^[A-Za-z0-9+=][A-Za-z0-9+/=]+$/.test(text));
}

/**
 * Parses the SSH private key as the tunnel will, so that a corrupt key, an encrypted key without
 * DB_SSH_PASSPHRASE or a wrong passphrase fail here rather than at the first query. The errors
 * name the variable and never quote the key or the passphrase.
 */
function checkPrivateKey(key: string, passphrase: string | undefined, keyPath: string | undefined): void {
  const keyVariable = keyPath === undefined ? 'DB_SSH_PRIVATE_KEY' : 'DB_SSH_PRIVATE_KEY_PATH';
  const where = keyPath === undefined ? 'DB_SSH_PRIVATE_KEY' : `DB_SSH_PRIVATE_KEY_PATH=${JSON.stringify(keyPath)}`;
  let result: ParsedKey | Error | ParsedKey[];
  try {
    result = ssh2.utils.parseKey(key, passphrase);
  } catch (error) {
    result = error instanceof Error ? error : new Error(String(error));
  }
  // a file may hold several keys; the tunnel uses the first
  const parsed: ParsedKey | Error | undefined = Array.isArray(result) ? (result as ParsedKey[])[0] : result;
  const secrets = [key, ...key.split('\n').filter((line) => line.trim().length >= 8), passphrase ?? ''];
  if (parsed instanceof Error) {
    const cause = safeCause(parsed, secrets);
    const encrypted = /passphrase|decrypt/i.test(parsed.message);
    if (encrypted && passphrase === undefined) {
      throw new ConfigError(
        'DB_SSH_PASSPHRASE',
        `the SSH private key (${where}) is encrypted: set DB_SSH_PASSPHRASE`,
        CONFIG_VARIABLES.DB_SSH_PASSPHRASE.allowed,
        { cause },
      );
    }
    if (encrypted) {
      throw new ConfigError(
        'DB_SSH_PASSPHRASE',
        `DB_SSH_PASSPHRASE does not decrypt the SSH private key (${where}): expected ${CONFIG_VARIABLES.DB_SSH_PASSPHRASE.allowed}`,
        CONFIG_VARIABLES.DB_SSH_PASSPHRASE.allowed,
        { cause },
      );
    }
    const allowed = CONFIG_VARIABLES[keyVariable].allowed;
    throw new ConfigError(
      keyVariable,
      `${where} is not a usable private key (${cause.message}): expected ${allowed}`,
      allowed,
      {
        cause,
      },
    );
  }
  const usable = parsed !== undefined && parsed.isPrivateKey();
  if (!usable) {
    const allowed = CONFIG_VARIABLES[keyVariable].allowed;
    throw new ConfigError(keyVariable, `${where} is not a private key: expected ${allowed}`, allowed);
  }
}

/** The fewest characters a cursor-signing key may have (DB_CURSOR_SECRET, the cursorSecret option). */
export const MIN_CURSOR_SECRET_LENGTH = 32;

/** DB_CURSOR_SECRET: optional; when set, at least MIN_CURSOR_SECRET_LENGTH characters. */
function parseCursorSecret(read: Reader): string | undefined {
  const secret = read.string('DB_CURSOR_SECRET');
  if (secret === undefined) return undefined;
  if (secret.length < MIN_CURSOR_SECRET_LENGTH)
    throw invalid('DB_CURSOR_SECRET', secret, `${secret.length} characters`);
  return secret;
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
  const shownPath = JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path);
  if (!existsSync(path)) {
    if (explicit) {
      throw new ConfigError('envFile', `envFile ${shownPath} does not exist`, 'an existing dotenv file');
    }
    return {};
  }
  try {
    return parseEnv(readFileSync(path, 'utf8')) as Record<string, string>;
  } catch (cause) {
    // a directory, a file without read permission: the file's text is never quoted
    const code = (cause as { code?: unknown }).code;
    throw new ConfigError(
      'envFile',
      `envFile ${shownPath} cannot be read${typeof code === 'string' ? ` (${code})` : ''}`,
      'an existing, readable dotenv file',
      { cause: safeCause(cause, []) },
    );
  }
}

function describe(config: DatabaseConfig): Record<string, unknown> {
  return {
    engine: config.engine,
    connection: config.connection?.redactedUrl,
    ...(config.failover
      ? {
          failover: {
            hosts: config.failover.hosts.map((host) => `${host.host}:${host.port}`),
            targetSessionAttrs: config.failover.targetSessionAttrs,
            loadBalanceHosts: config.failover.loadBalanceHosts,
            connectTimeoutMs: config.failover.connectTimeoutMs,
            timeoutMs: config.failover.timeoutMs,
          },
        }
      : {}),
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
    cursorSecret: config.cursorSecret === undefined ? 'unset' : 'set',
  };
}

const ENV_ALLOWED = 'an object of strings, such as process.env';

/**
 * The environment as a snapshot of its own string keys, each read once.
 * @throws ConfigError (variable `env`) for anything but a non-array object, or one that throws
 * while it is read.
 */
function readEnvironment(env: unknown): Record<string, unknown> {
  if (typeof env !== 'object' || env === null) {
    throw new ConfigError('env', 'the environment must be an object of strings', ENV_ALLOWED);
  }
  try {
    return readOptions(env as Record<string, unknown>, 'env', 'record');
  } catch (cause) {
    const reason = Array.isArray(env) ? 'must be an object of strings, not an array' : 'could not be read';
    throw new ConfigError('env', `the environment ${reason}`, ENV_ALLOWED, { cause });
  }
}

/**
 * Reads and validates the configuration from `env` (default: process.env) and a dotenv file
 * (default `.env`, read when it exists; the environment wins over the file).
 *
 * `env` is read once, as a snapshot of its own string keys (undefined: process.env); `options`
 * likewise (undefined or null: the defaults).
 *
 * @example
 * const config = loadConfig(process.env, { envFile: '.env.local' });
 * @throws ConfigError (variable `env`) when `env` is not an object (null, a string, an array) or
 * cannot be read (a Proxy, a throwing getter); ValidationError (field `options`) when options is
 * not a plain object or cannot be read, (field `envFile` or `logger`) for an envFile that is not
 * a non-empty string or a logger without warn. ConfigError naming the variable, the value given (secrets masked) and what is allowed;
 * also when DATABASE_URL is missing or a named envFile does not exist, when the SSH private key
 * cannot be parsed (or is encrypted and DB_SSH_PASSPHRASE is missing or wrong), and when
 * DB_CURSOR_SECRET is shorter than 32 characters. No message or cause quotes a password, a
 * passphrase, key text or the cursor secret, nor more than the scheme of a URL that does not parse.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv | null = process.env,
  options?: LoadConfigOptions | null,
): DatabaseConfig {
  const environment = readEnvironment(env);
  const { envFile, logger } = readOptions(options, 'options');
  if (envFile !== undefined && (typeof envFile !== 'string' || envFile === '' || envFile.includes('\0'))) {
    throw new ValidationError('envFile', 'type', 'envFile must be a file path (a non-empty string without NUL)');
  }
  let warn: ((message: string, meta: Record<string, unknown>) => void) | undefined;
  if (logger !== undefined && logger !== null) {
    let method: unknown;
    try {
      method = (logger as { warn?: unknown }).warn;
    } catch (cause) {
      throw new ValidationError('logger', 'type', 'logger could not be read', { cause });
    }
    if (typeof method !== 'function') throw new ValidationError('logger', 'type', 'logger must have a warn method');
    warn = (message, meta) => {
      try {
        (method as (message: string, meta: Record<string, unknown>) => void).call(logger, message, meta);
      } catch {
        // a warning is never worth the configuration: a throwing logger changes nothing
      }
    };
  }
  const fromFile = readEnvFile(envFile ?? '.env', envFile !== undefined);
  // no prototype: a `__proto__` key is a variable like any other, never the object's prototype
  const merged: Record<string, string | undefined> = Object.create(null) as Record<string, string | undefined>;
  for (const [key, value] of [...Object.entries(fromFile), ...Object.entries(environment)]) {
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

  const unknown = Object.keys(merged)
    .filter((name) => name.startsWith('DB_') && !(name in CONFIG_VARIABLES))
    .map((name) => ({ variable: name, closest: closestVariable(name) }));
  if (warn) for (const found of unknown) warn(unknownVariableMessage(found), { ...found });

  const url = read.string('DATABASE_URL');
  if (url === undefined) {
    throw new ConfigError('DATABASE_URL', 'DATABASE_URL is required', CONFIG_VARIABLES.DATABASE_URL.allowed);
  }
  let engine: DatabaseConfig['engine'];
  let connection: ConnectionTarget | undefined;
  let failover: FailoverConfig | undefined;
  let embeddedDir = read.string('DB_EMBEDDED_DIR');
  if (/^pglite:/i.test(url)) {
    const match = url.match(/^pglite:\/\/(\/.*)?$/i);
    if (!match) {
      const allowed = CONFIG_VARIABLES.DATABASE_URL.allowed;
      throw new ConfigError(
        'DATABASE_URL',
        `DATABASE_URL is a pglite URL of neither allowed form (pglite:// or pglite:///absolute/dir): expected ${allowed}`,
        allowed,
      );
    }
    engine = 'pglite';
    embeddedDir = match[1] ?? embeddedDir;
  } else {
    engine = 'postgres';
    ({ connection, failover } = parseServers(url, read));
  }
  if (embeddedDir !== undefined && !embeddedDir.startsWith('/')) throw invalid('DB_EMBEDDED_DIR', embeddedDir);

  const replicaList = (read.string('DATABASE_REPLICA_URLS') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const replicas = replicaList.map((r, i) =>
    parseTarget('DATABASE_REPLICA_URLS', r, `DATABASE_REPLICA_URLS entry ${i + 1}`),
  );

  const applicationName = read.string('DB_APPLICATION_NAME') ?? 'kysely-repository';
  if (!/^[\x20-\x7e]{1,63}$/.test(applicationName)) throw invalid('DB_APPLICATION_NAME', applicationName);

  const ssh = parseSsh(read, merged);
  const cursorSecret = parseCursorSecret(read);
  const targets = [...(connection ? [connection] : []), ...replicas];
  const secrets = [
    ...new Set(
      [
        ...targets.flatMap((t) => [
          t.password,
          t.ssl === false ? undefined : t.ssl.key,
          t.ssl === false ? undefined : t.ssl.passphrase,
        ]),
        ...singleHostUrls(url).flatMap(urlSecrets),
        ...replicaList.flatMap(urlSecrets),
        ssh?.password,
        ssh?.passphrase,
        ssh?.privateKey,
        cursorSecret,
      ].filter((s): s is string => typeof s === 'string' && s !== '' && s !== '***'),
    ),
  ];

  const config: DatabaseConfig = {
    engine,
    connection,
    ...(failover ? { failover } : {}),
    embeddedDir,
    replicas,
    pool: {
      size: read.int('DB_POOL_SIZE', 10, 1, 100),
      acquireTimeoutMs: read.int('DB_POOL_TIMEOUT', 30_000),
      idleTimeoutMs: read.int('DB_POOL_IDLE_TIMEOUT', 10_000),
      maxLifetimeSeconds: read.int('DB_POOL_RECYCLE', 3_600),
      maxOverflow: read.int('DB_MAX_OVERFLOW', 0, 0, 100),
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
  if (cursorSecret !== undefined) hide(config, 'cursorSecret', cursorSecret);
  hide(config, 'secrets', Object.freeze(secrets));
  // built here, of the right shape: sealed without checking it again
  const sealed = seal(config);
  // without a logger here, createDatabase warns about them through its own (once)
  if (unknown.length > 0 && !warn) pendingWarnings.set(sealed, Object.freeze(unknown));
  return sealed;
}

/** A `DB_*` variable loadConfig does not know, and the known one closest to it. */
export interface UnknownVariable {
  readonly variable: string;
  readonly closest: ConfigVariable;
}

/** The warning about one unknown variable. */
export function unknownVariableMessage({ variable, closest }: UnknownVariable): string {
  return `unknown configuration variable ${variable} is ignored; did you mean ${closest}?`;
}

/** Unknown variables of configs loadConfig made without a logger, not yet warned about. */
const pendingWarnings = new WeakMap<DatabaseConfig, readonly UnknownVariable[]>();

/**
 * The unknown `DB_*` variables loadConfig saw while making `config` without a logger to warn
 * to, handed out once (later calls, and configs with none, give an empty list). createDatabase
 * warns about them through its logger. Never throws.
 */
export function takeUnknownVariables(config: DatabaseConfig): readonly UnknownVariable[] {
  const found = pendingWarnings.get(config) ?? [];
  pendingWarnings.delete(config);
  return found;
}

/** Configs sealConfig made (and loadConfig, through it): served as they are. */
const sealedConfigs = new WeakSet<object>();

/** Names `path` in a ValidationError (field `config`) saying what it must be. */
function badShape(path: string, what: string, cause?: unknown): ValidationError {
  return new ValidationError('config', 'shape', `${path} must be ${what}: pass a DatabaseConfig (see loadConfig)`, {
    ...(cause === undefined ? {} : { cause }),
  });
}

function requireType(record: Record<string, unknown>, path: string, key: string, type: 'string' | 'boolean'): void {
  if (typeof record[key] !== type) throw badShape(`${path}.${key}`, `a ${type}`);
}

function requireCount(record: Record<string, unknown>, path: string, key: string, optional = false): void {
  const value = record[key];
  if (optional && value === undefined) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw badShape(`${path}.${key}`, 'a non-negative integer');
  }
}

function requireOneOf(record: Record<string, unknown>, path: string, key: string, allowed: readonly string[]): void {
  const value = record[key];
  if (typeof value !== 'string' || !allowed.includes(value))
    throw badShape(`${path}.${key}`, `one of ${allowed.join(', ')}`);
}

function checkTarget(value: unknown, path: string): void {
  if (!isPlainObject(value)) throw badShape(path, 'a connection target object');
  for (const key of ['host', 'database', 'user', 'redactedUrl']) requireType(value, path, key, 'string');
  requireCount(value, path, 'port');
  const ssl = value['ssl'];
  if (ssl !== false && (typeof ssl !== 'object' || ssl === null)) throw badShape(`${path}.ssl`, 'false or TLS options');
}

/**
 * Checks that `config` has the shape of a DatabaseConfig, reading each of its properties once
 * (accessor properties are refused without being called).
 * @throws ValidationError (field `config`, rule `shape`) naming the first property that is
 * missing or of the wrong type, or saying the object could not be read.
 */
function checkConfigShape(config: unknown): void {
  if (!isPlainObject(config)) throw badShape('config', 'a plain object');
  for (const [key, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(config))) {
    if (!('value' in descriptor)) throw badShape(`config.${key.slice(0, 64)}`, 'a value, not a getter or setter');
  }
  requireOneOf(config, 'config', 'engine', ['postgres', 'pglite']);
  if (config['engine'] === 'postgres') checkTarget(config['connection'], 'config.connection');
  else if (config['connection'] !== undefined) throw badShape('config.connection', 'undefined with engine pglite');
  if (config['embeddedDir'] !== undefined && typeof config['embeddedDir'] !== 'string') {
    throw badShape('config.embeddedDir', 'undefined or a string');
  }
  const failover = config['failover'];
  if (failover !== undefined) {
    if (!isPlainObject(failover)) throw badShape('config.failover', 'undefined or an object');
    const hosts = failover['hosts'];
    if (!Array.isArray(hosts) || hosts.length === 0) {
      throw badShape('config.failover.hosts', 'a non-empty array of connection targets');
    }
    hosts.forEach((host, i) => checkTarget(host, `config.failover.hosts[${i}]`));
    requireOneOf(failover, 'config.failover', 'targetSessionAttrs', TARGET_SESSION_ATTRS);
    requireOneOf(failover, 'config.failover', 'loadBalanceHosts', ['disable', 'random']);
    requireCount(failover, 'config.failover', 'connectTimeoutMs', true);
    requireCount(failover, 'config.failover', 'timeoutMs');
  }
  const replicas = config['replicas'];
  if (!Array.isArray(replicas)) throw badShape('config.replicas', 'an array of connection targets');
  replicas.forEach((replica, i) => checkTarget(replica, `config.replicas[${i}]`));
  const pool = config['pool'];
  if (!isPlainObject(pool)) throw badShape('config.pool', 'an object');
  for (const key of ['size', 'acquireTimeoutMs', 'idleTimeoutMs', 'maxLifetimeSeconds']) {
    requireCount(pool, 'config.pool', key);
  }
  requireCount(pool, 'config.pool', 'maxOverflow', true);
  for (const key of ['statementTimeoutMs', 'slowQueryMs', 'preparedStatementsMax', 'replicaRetryMs']) {
    requireCount(config, 'config', key);
  }
  requireCount(config, 'config', 'readYourWritesMs', true);
  for (const key of ['echoSql', 'preparedStatements', 'pipelining']) requireType(config, 'config', key, 'boolean');
  requireOneOf(config, 'config', 'pgbouncer', ['off', 'session', 'transaction', 'auto']);
  requireType(config, 'config', 'applicationName', 'string');
  requireOneOf(config, 'config', 'logLevel', ['error', 'warn', 'info', 'debug']);
  const ssh = config['ssh'];
  if (ssh !== undefined) {
    if (!isPlainObject(ssh)) throw badShape('config.ssh', 'undefined or an object');
    requireType(ssh, 'config.ssh', 'host', 'string');
    requireType(ssh, 'config.ssh', 'user', 'string');
    requireCount(ssh, 'config.ssh', 'port');
  }
  const secrets = config['secrets'];
  if (secrets !== undefined && !(Array.isArray(secrets) && secrets.every((s) => typeof s === 'string'))) {
    throw badShape('config.secrets', 'an array of strings');
  }
  if (config['cursorSecret'] !== undefined && typeof config['cursorSecret'] !== 'string') {
    throw badShape('config.cursorSecret', 'undefined or a string');
  }
}

/**
 * Freezes a config and gives it redacting `toString`, `toJSON` and `util.inspect`. Use it on a
 * DatabaseConfig built by hand (loadConfig already does); a config it sealed before comes back
 * as it is.
 *
 * @example
 * const config = sealConfig({ ...loadConfig(), pool: { ...loadConfig().pool, size: 4 } });
 * @throws ValidationError (field `config`, rule `shape`) when `config` is not a DatabaseConfig:
 * not a plain object, a property missing or of the wrong type (named in the message), a getter,
 * an object that throws while it is read, or one already frozen (it could not be sealed).
 */
export function sealConfig(config: DatabaseConfig): DatabaseConfig {
  if (isSealed(config)) return config;
  checkDatabaseConfig(config);
  try {
    if (!Object.isExtensible(config)) throw badShape('config', 'an object that is not frozen (sealConfig freezes it)');
    return seal(config);
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    throw badShape('config', 'a readable DatabaseConfig', error);
  }
}

/**
 * Checks that `config` is a DatabaseConfig: one loadConfig or sealConfig made, or an object of
 * that shape (each property read once, getters refused).
 * @throws ValidationError (field `config`, rule `shape`) naming the first property that is
 * missing or of the wrong type, or saying the object could not be read.
 */
export function checkDatabaseConfig(config: unknown): asserts config is DatabaseConfig {
  if (isSealed(config)) return;
  try {
    checkConfigShape(config);
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    throw badShape('config', 'a readable DatabaseConfig', error);
  }
}

function isSealed(config: unknown): boolean {
  return typeof config === 'object' && config !== null && sealedConfigs.has(config);
}

/** Gives a config its redacting `toString`, `toJSON` and `util.inspect`, and freezes it. */
function seal(config: DatabaseConfig): DatabaseConfig {
  if (!Object.prototype.hasOwnProperty.call(config, 'secrets')) hide(config, 'secrets', []);
  hide(config, 'toString', () => `DatabaseConfig ${JSON.stringify(describe(config))}`);
  hide(config, 'toJSON', () => describe(config));
  hide(config, inspect.custom, () => `DatabaseConfig ${inspect(describe(config), { depth: 4 })}`);
  Object.freeze(config);
  sealedConfigs.add(config);
  return config;
}

/**
 * The most connections a pool of `config` opens: DB_POOL_SIZE plus DB_MAX_OVERFLOW.
 * @example
 * poolCapacity(loadConfig({ DATABASE_URL, DB_POOL_SIZE: '5', DB_MAX_OVERFLOW: '10' }).pool); // 15
 */
export function poolCapacity(pool: DatabaseConfig['pool']): number {
  return pool.size + (pool.maxOverflow ?? 0);
}
