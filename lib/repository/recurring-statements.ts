/**
 * Statements written by where callbacks are compiled on every call, so they cannot be compiled
 * once as shapes are; but a callback at one place in the code compiles to the same text each
 * time. A text seen again soon is worth a named prepared statement: the server then parses and
 * plans it once per connection instead of on every call, as for shapes.
 */
import type { CompiledQuery } from 'kysely';
import { preparedQuery } from '../prepared-query.js';
import { RecentlyUsed } from '../recently-used.js';

/** Texts remembered per Database, least recently seen forgotten first. */
const REMEMBERED = 500;

const byOwner = new WeakMap<object, RecentlyUsed<string, true>>();

/**
 * `compiled`, marked to run as a named prepared statement when its text was compiled before for
 * the same Database (`owner`) not long ago. Only a statement with parameters is marked: it goes
 * out through the extended protocol either way, so the same texts are accepted; one without
 * them keeps the simple protocol, which also accepts several statements in one text. Never throws.
 */
export function preparedWhenRecurring<R>(owner: object, compiled: CompiledQuery<R>): CompiledQuery<R> {
  if (compiled.parameters.length === 0) return compiled;
  let seen = byOwner.get(owner);
  if (!seen) byOwner.set(owner, (seen = new RecentlyUsed(REMEMBERED)));
  const recurs = seen.get(compiled.sql) !== undefined;
  if (!recurs) seen.set(compiled.sql, true);
  return recurs ? preparedQuery(compiled) : compiled;
}
