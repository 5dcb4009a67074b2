/**
 * Removal of secrets from text and log metadata: bcrypt hashes, PEM private keys, passwords in
 * connection strings, and any literal secret the caller names (the configured passwords).
 */

const BCRYPT_HASH = /\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}/g;
const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g;
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*:)[^@\s]*@/gi;
const KEYWORD_PASSWORD = /\b(password|passphrase)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)/gi;

/** Secrets shorter than this are not searched for as literals (they would blank ordinary words). */
const MIN_LITERAL_LENGTH = 4;

/**
 * Returns `text` with every known kind of secret, and each of `secrets`, replaced by a marker.
 * Never throws.
 */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text
    .replace(PRIVATE_KEY, '[private key]')
    .replace(BCRYPT_HASH, '[password hash]')
    .replace(URL_PASSWORD, '$1***@')
    .replace(KEYWORD_PASSWORD, '$1$2***');
  for (const secret of secrets) {
    if (secret.length >= MIN_LITERAL_LENGTH) out = out.split(secret).join('***');
  }
  return out;
}

/** Returns a connection URL with its password masked; anything unparsable is redacted as text. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return redactText(url);
  }
}

/**
 * Deep-copies a log value with secrets redacted from every string in it (Errors become plain
 * objects with name, message, code and a redacted stack). Cycles and depth are bounded.
 */
export function redactValue(value: unknown, secrets: readonly string[] = [], depth = 0): unknown {
  if (typeof value === 'string') return redactText(value, secrets);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 6) return '[…]';
  if (value instanceof Date) return value;
  if (Buffer.isBuffer(value)) return `[${value.length} bytes]`;
  if (value instanceof Error) {
    const { code } = value as { code?: unknown };
    return {
      name: value.name,
      message: redactText(value.message, secrets),
      ...(code === undefined ? {} : { code }),
    };
  }
  if (Array.isArray(value)) return value.map((item) => redactValue(item, secrets, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = /^(password|passphrase|privateKey|private_key|passwordHash|password_hash)$/i.test(key)
      ? '***'
      : redactValue(item, secrets, depth + 1);
  }
  return out;
}
