/**
 * Removal of secrets from text and log metadata: password hashes in the formats we know (bcrypt,
 * PHC strings such as argon2 and scrypt, crypt's $1$/$5$/$6$, Django's pbkdf2), PEM private keys,
 * passwords in connection strings and in SQL (`password '…'`), and any literal secret the caller
 * names. The formats are a second line: secrets are first masked by meaning, by the column or
 * setting that holds them.
 */

const BCRYPT_HASH = /\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}/g;
/** PHC strings ($argon2id$v=19$m=…$salt$hash, $scrypt$…, $pbkdf2-sha256$…), crypt(3) and Django's. */
const PHC_HASH =
  /\$(?:argon2(?:id|i|d)|scrypt|pbkdf2(?:-[a-z0-9]+)?|balloon(?:-[a-z0-9]+)?|[156y]|sha(?:256|512)-?crypt)\$[A-Za-z0-9+/.=,$_-]{8,}|\bpbkdf2_[a-z0-9]+\$\d+\$[A-Za-z0-9+/.=$_-]{8,}/g;
/** A password literal in SQL: `password 'x'`, `password E'x'`, `password $$x$$` (CREATE/ALTER ROLE). */
const SQL_PASSWORD =
  /\b(password)(\s+)([Ee]'(?:[^'\\]|\\[\s\S]|'')*'?|'(?:[^']|'')*'?|\$([A-Za-z_][A-Za-z0-9_]*)?\$[\s\S]*?(?:\$\4\$|$))/gi;
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
    .replace(PHC_HASH, '[password hash]')
    .replace(URL_PASSWORD, '$1***@')
    .replace(SQL_PASSWORD, "$1$2'***'")
    .replace(KEYWORD_PASSWORD, '$1$2***');
  for (const secret of secrets) {
    if (secret.length >= MIN_LITERAL_LENGTH) out = out.split(secret).join('***');
  }
  return out;
}

/** `scheme://` at the start of a URL; nothing else of an unparsable URL is ever shown. */
export const URL_SCHEME = /^([a-z][a-z0-9+.-]{0,30}:\/\/)/i;

/**
 * Query parameters of a connection URL whose values are (or may be) secrets. `sslkey` names a
 * file, but text put there by mistake would be key material.
 */
export const SECRET_URL_PARAMETER = /^(?!passfile$).*(pass|secret|token|credential)|^sslkey$/i;

const DUMMY_HOST = '___DUMMY___';

/**
 * Parses a connection URL as pg-connection-string does (spaces and stray `%` encoded first; an
 * empty host replaced by a placeholder), or returns undefined.
 */
export function parseConnectionUrl(url: string): { url: URL; dummyHost: boolean } | undefined {
  let text = url;
  try {
    if (/\s|%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(url)) text = encodeURI(url).replace(/%25(\d\d)/g, '%$1');
    return { url: new URL(text), dummyHost: false };
  } catch {
    try {
      return { url: new URL(text.replace('@/', `@${DUMMY_HOST}/`)), dummyHost: true };
    } catch {
      return undefined;
    }
  }
}

/**
 * Returns a connection URL with its userinfo password and every query parameter that may carry a
 * secret (`password`, `sslpassword`, `sslkey`…) masked. A URL that does not parse is reduced to
 * its scheme: its text may hold the password anywhere. Never throws.
 */
export function redactUrl(url: string): string {
  const found = parseConnectionUrl(url);
  if (!found) return `${url.match(URL_SCHEME)?.[1] ?? ''}[unparsable URL]`;
  const parsed = found.url;
  if (parsed.password) parsed.password = '***';
  // a database name with an @ in it is more likely the tail of a password with an unencoded / in it
  if (parsed.pathname.includes('@')) parsed.pathname = '/***';
  for (const key of new Set(parsed.searchParams.keys())) {
    if (SECRET_URL_PARAMETER.test(key)) parsed.searchParams.set(key, '***');
  }
  parsed.hash = '';
  const text = parsed.toString();
  return found.dummyHost ? text.replace(`@${DUMMY_HOST}/`, '@/') : text;
}

/** Logged text is cut to this many characters (a 1 MB value must not make a 1 MB line). */
export const MAX_LOGGED_TEXT = 4096;
/** A statement parameter is cut shorter. */
export const MAX_LOGGED_PARAMETER = 256;
/** At most this many parameters of a statement are logged. */
export const MAX_LOGGED_PARAMETERS = 50;

/** `text` cut to `max` characters, saying how long it was. Never throws. */
export function capText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… [${text.length} chars]`;
}

/**
 * A statement's parameters as a log line carries them: each of `secrets` (values bound to secret
 * columns) masked wherever it appears, then every secret `redactValue` knows, each value cut to
 * 256 characters, at most 50 of them. Never throws.
 */
export function logParameters(parameters: readonly unknown[], secrets: readonly string[] = []): unknown[] {
  const shown = parameters.slice(0, MAX_LOGGED_PARAMETERS).map((value) => {
    if (typeof value !== 'string') return redactValue(value, secrets);
    let text = value;
    for (const secret of secrets) if (secret !== '' && text.includes(secret)) text = text.split(secret).join('***');
    return capText(redactText(text, secrets), MAX_LOGGED_PARAMETER);
  });
  if (parameters.length > MAX_LOGGED_PARAMETERS) shown.push(`… ${parameters.length - MAX_LOGGED_PARAMETERS} more`);
  return shown;
}

/**
 * Deep-copies a log value with secrets redacted from every string in it (Errors become plain
 * objects with name, message, code and a redacted stack). Cycles and depth are bounded.
 */
export function redactValue(value: unknown, secrets: readonly string[] = [], depth = 0): unknown {
  if (typeof value === 'string') return capText(redactText(value, secrets), MAX_LOGGED_TEXT);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 6) return '[…]';
  if (value instanceof Date) return value;
  if (Buffer.isBuffer(value)) return `[${value.length} bytes]`;
  if (value instanceof Error) {
    const { code } = value as { code?: unknown };
    return {
      name: value.name,
      message: capText(redactText(value.message, secrets), MAX_LOGGED_TEXT),
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
