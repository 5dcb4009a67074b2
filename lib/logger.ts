/**
 * The Logger the package writes to: an interface any logger fits (winston's does), a winston
 * factory, and a wrapper that removes secrets from every line before it leaves the package.
 */
import winston from 'winston';
import { readOptions } from './arguments.js';
import { ValidationError } from './errors.js';
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

const LOG_LEVELS: readonly string[] = ['error', 'warn', 'info', 'debug'];
const LOG_FORMATS: readonly string[] = ['json', 'pretty'];

/**
 * Creates a winston logger: JSON lines in production, readable lines otherwise. `options` is read
 * once (undefined or null: the defaults).
 * @example
 * const logger = createLogger({ level: 'debug' });
 * @throws ValidationError (field `options`) when options is not a plain object or cannot be read;
 * (field `level`, `format` or `transports`) for a value outside what each allows.
 */
export function createLogger(options?: CreateLoggerOptions | null): winston.Logger {
  const { level = 'info', format: formatName, transports } = readOptions(options, 'options');
  if (typeof level !== 'string' || !LOG_LEVELS.includes(level)) {
    throw new ValidationError('level', 'allowed', `level must be one of ${LOG_LEVELS.join(', ')}`);
  }
  if (formatName !== undefined && (typeof formatName !== 'string' || !LOG_FORMATS.includes(formatName))) {
    throw new ValidationError('format', 'allowed', `format must be one of ${LOG_FORMATS.join(', ')}`);
  }
  if (transports !== undefined && !isTransportList(transports)) {
    throw new ValidationError('transports', 'type', 'transports must be an array of winston transports');
  }
  const json = (formatName ?? (process.env['NODE_ENV'] === 'production' ? 'json' : 'pretty')) === 'json';
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
    level,
    format,
    transports: transports ?? [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  });
}

/** True for an array whose every item is an object (a winston transport); false when reading it throws. */
function isTransportList(value: unknown): value is winston.transport[] {
  try {
    return Array.isArray(value) && value.every((item) => typeof item === 'object' && item !== null);
  } catch {
    return false;
  }
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
