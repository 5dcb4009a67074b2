/**
 * A failure as the CLI prints it: one line, `kysely-repository: <message>`, secrets masked; the
 * stack (masked too) only when DEBUG is set.
 */
import { ConnectionError } from '../errors.js';
import { redactText } from '../redact.js';
import { CliError, type CliExitCode } from './cli-error.js';

/** What formatFailure knows besides the error. */
export interface FailureContext {
  /** Literal secrets to mask (passwords, passphrases, key text). */
  readonly secrets: readonly string[];
  /** Where the database is, already redacted (see describeTarget); undefined before the config loaded. */
  readonly target: string | undefined;
  /** DEBUG is set: add the stack and causes. */
  readonly debug: boolean;
}

/** The exit code for `error`: a CliError's own, else 1. */
export function exitCodeOf(error: unknown): CliExitCode {
  return error instanceof CliError ? error.exitCode : 1;
}

function messageOf(error: unknown, target: string | undefined): string {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ConnectionError) {
    return `cannot connect to the database of DATABASE_URL${target ? ` (${target})` : ''}: ${message}`;
  }
  return message;
}

/**
 * The lines to print on stderr for `error`: one, unless `context.debug`.
 *
 * @example
 * formatFailure(error, { secrets: [], target: undefined, debug: false }); // ['kysely-repository: DATABASE_URL is required']
 * @throws nothing.
 */
export function formatFailure(error: unknown, context: FailureContext): string[] {
  const clean = (text: string): string => redactText(text, context.secrets);
  const line = `kysely-repository: ${clean(messageOf(error, context.target)).replace(/\s*\n\s*/g, ' ')}`;
  if (!context.debug) return [line];
  const lines = [line];
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth += 1) {
    lines.push(clean(current.stack ?? `${current.name}: ${current.message}`));
    current = current.cause;
  }
  return lines;
}

/**
 * The secrets of an environment worth masking literally: the password of DATABASE_URL (and of
 * each replica URL) and the SSH password, passphrase and key text.
 *
 * @example
 * secretsOf({ DATABASE_URL: 'postgres://app:s3cret@db/app' }); // ['s3cret']
 * @throws nothing.
 */
export function secretsOf(env: Readonly<Record<string, string | undefined>>): string[] {
  const secrets: string[] = [];
  for (const name of ['DB_SSH_PASSWORD', 'DB_SSH_PASSPHRASE', 'DB_SSH_PRIVATE_KEY']) {
    const value = env[name];
    if (value) secrets.push(value);
  }
  const urls = [env['DATABASE_URL'], ...(env['DATABASE_REPLICA_URLS'] ?? '').split(',')];
  for (const url of urls) {
    const raw = url?.trim().match(/^[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:([^@\s]*)@/i)?.[1];
    if (!raw) continue;
    secrets.push(raw);
    try {
      secrets.push(decodeURIComponent(raw));
    } catch {
      // not percent-encoded: the raw form is enough
    }
  }
  return secrets;
}
