/**
 * The Logger the package writes to: an interface any logger fits (winston's does), a winston
 * factory, and a wrapper that removes secrets from every line before it leaves the package.
 */
import winston from 'winston';
import { capText, MAX_LOGGED_TEXT, redactText, redactValue } from './redact.js';

/** Structured fields of a log line. */
export type LogMeta = Record<string, unknown>;

/** What the package logs to. winston's Logger fits; so does a sinon stub object. */
export interface Logger {
  error(message: string, meta?: LogMeta): void;
  warn(message: string, meta?: LogMeta): void;
  info(message: string, meta?: LogMeta): void;
  debug(message: string, meta?: LogMeta): void;
  /** Optional: a logger whose lines all carry `meta`. */
  child?(meta: LogMeta): Logger;
}

/** Options of createLogger. */
export interface CreateLoggerOptions {
  /** (Default: info) */
  readonly level?: 'error' | 'warn' | 'info' | 'debug';
  /** `json` lines, or `pretty` for people. (Default: json when NODE_ENV=production, else pretty) */
  readonly format?: 'json' | 'pretty';
  /** Where lines go. (Default: the console, on stderr) */
  readonly transports?: winston.transport[];
}

/**
 * Creates a winston logger: JSON lines in production, readable lines otherwise.
 * @example
 * const logger = createLogger({ level: 'debug' });
 */
export function createLogger(options: CreateLoggerOptions = {}): winston.Logger {
  const json = (options.format ?? (process.env['NODE_ENV'] === 'production' ? 'json' : 'pretty')) === 'json';
  const format = json
    ? winston.format.combine(winston.format.timestamp(), winston.format.json())
    : winston.format.combine(
        winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
        winston.format.printf(({ level, message, timestamp, ...meta }) => {
          const rest = Object.keys(meta).length > 0 ? ` ${JSON.stringify(meta)}` : '';
          return `${String(timestamp)} ${level} ${String(message)}${rest}`;
        }),
      );
  return winston.createLogger({
    level: options.level ?? 'info',
    format,
    transports: options.transports ?? [
      new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] }),
    ],
  });
}

/**
 * Wraps a logger so no line leaves with a secret: password hashes, private keys, passwords in
 * connection strings and in SQL, and each of `secrets`, are replaced in the message and in every
 * field, and every value is cut to a bounded length. A logger that throws never changes what the
 * caller does: its failure is swallowed and reported to `onFailure`.
 */
export function redactingLogger(
  logger: Logger,
  secrets: readonly string[] = [],
  meta?: LogMeta,
  onFailure?: (error: unknown) => void,
): Logger {
  let target = logger;
  try {
    if (meta && logger.child) target = logger.child(meta);
  } catch (error) {
    onFailure?.(error);
  }
  const write =
    (level: 'error' | 'warn' | 'info' | 'debug') =>
    (message: string, fields?: LogMeta): void => {
      try {
        const clean = capText(redactText(String(message), secrets), MAX_LOGGED_TEXT);
        if (fields === undefined) target[level](clean);
        else target[level](clean, redactValue(fields, secrets) as LogMeta);
      } catch (error) {
        // a log line is never worth an operation: the caller's outcome stands
        try {
          onFailure?.(error);
        } catch {
          // nothing more to do
        }
      }
    };
  return {
    error: write('error'),
    warn: write('warn'),
    info: write('info'),
    debug: write('debug'),
    child: (childMeta) => redactingLogger(target, secrets, childMeta, onFailure),
  };
}

/** A logger that drops every line. */
export const silentLogger: Logger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
};
