/**
 * libpq's multi-host connection URL (`postgres://user@h1:5432,h2:5433,h3/db?…`), split into one
 * single-host URL per host so that each is parsed, checked and redacted as any other URL is.
 */

/** A URL's parts around its host list; hosts as written (`h1:5432`, `[::1]:5433`, `h3`). */
export interface HostList {
  readonly hosts: readonly string[];
  /** One URL per host: the same scheme, user, password, database and parameters. */
  readonly urls: readonly string[];
}

/** scheme://, userinfo@ (up to the last @ before the path), the host list, the rest. */
const AUTHORITY = /^([a-z][a-z0-9+.-]*:\/\/)((?:[^/?#]*@)?)([^/?#@]*)(.*)$/is;

/** One host entry: a name or IPv4 address, or a bracketed IPv6 address, with an optional port. */
const HOST_ENTRY = /^(?:\[[0-9a-f:.%a-z]+\]|[^:[\]]+)(?::\d*)?$/i;

/**
 * The hosts of `url` when it lists more than one (comma-separated, as libpq allows), else
 * undefined (a single-host URL is left to the usual parser). An entry that is empty or malformed
 * is returned as undefined in `hosts`' place: the caller names it in its error.
 *
 * @example
 * splitHostList('postgres://u@a:5432,b:5433/db').urls; // ['postgres://u@a:5432/db', 'postgres://u@b:5433/db']
 * @throws never.
 */
export function splitHostList(url: string): (HostList & { readonly bad: number | undefined }) | undefined {
  const match = AUTHORITY.exec(url);
  if (!match) return undefined;
  const [, scheme, userinfo, list, rest] = match as unknown as [string, string, string, string, string];
  if (!list.includes(',')) return undefined;
  const hosts = list.split(',');
  const bad = hosts.findIndex((host) => !HOST_ENTRY.test(host));
  return {
    hosts,
    urls: hosts.map((host) => `${scheme}${userinfo}${host}${rest}`),
    bad: bad < 0 ? undefined : bad,
  };
}
