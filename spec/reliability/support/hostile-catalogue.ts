/**
 * The catalogue of hostile inputs the standing hostile-input table runs through every public
 * method, and the places ("slots") of a method an input can be put in. Each input knows what it
 * looks like in each kind of slot: a Proxy is a Proxy everywhere, a catalog table name is a
 * string everywhere, a `__proto__` key is an object in an object slot and the bare name in a
 * string slot.
 */
import { createHash } from 'node:crypto';

/** What a slot of a method holds, which decides the form an input takes there. */
export type SlotKind =
  /** A primary key. */
  | 'id'
  /** A whole object argument: options, a query, a patch, the values of a row. */
  | 'object'
  /** A where object (an undefined value or no column in it is a ValidationError). */
  | 'where'
  /** The value of one column in a where object. */
  | 'whereValue'
  /** The value of one column in the values or patch of a write. */
  | 'writeValue'
  /** A string argument: a username, an email, a password, an environment variable. */
  | 'string'
  /** A column name (orderBy, increment's column, conflict columns). */
  | 'column'
  /** A number argument (a limit, increment's `by`). */
  | 'number'
  /** A keyset cursor. */
  | 'cursor'
  /** A table name. */
  | 'table'
  /** A Kysely instance (or a Transaction). */
  | 'db'
  /** A callback. */
  | 'function';

/** Where a cursor slot's cursors come from. */
export interface CursorSource {
  /** The scope the repository signs its cursors for (table and sort order). */
  readonly scope: string;
  /** A cursor the repository issued for that scope. */
  readonly issued: string;
}

/** One hostile input, as it looks in each kind of slot. */
export interface HostileInput {
  /** The input, in a few words (a column of the table). */
  readonly name: string;
  /** The value to put in a slot of `kind` (a new one each call: some are stateful). */
  value(kind: SlotKind, cursor?: CursorSource): unknown;
  /** Catalog table names: refused (ValidationError or NotFoundError) wherever a table is named. */
  readonly catalog?: boolean;
  /** A cursor nobody issued, with a checksum recomputed: refused when cursors are signed. */
  readonly forged?: boolean;
  /** An issued cursor altered: always refused. */
  readonly tampered?: boolean;
}

/** The error the hostile getters and traps throw: a plain Error, which must never come back out untyped. */
export class HostileTrap extends Error {
  override name = 'HostileTrap';
}

function trap(): never {
  throw new HostileTrap('a hostile getter or proxy trap was called');
}

/** 10 MiB of text. */
export const HUGE = 'x'.repeat(10 * 1024 * 1024);

/** Keys a throwing-getter object carries, so every method finds at least one it reads. */
const GETTER_KEYS = [
  'name',
  'note',
  'hits',
  'code',
  'id',
  'username',
  'email',
  'password',
  'isActive',
  'limit',
  'offset',
  'cursor',
  'where',
  'orderBy',
  'activeOnly',
  'withDeleted',
  'withTotal',
  'returning',
  'forUpdate',
  'DATABASE_URL',
  'config',
  'logger',
  'plugins',
  'isolationLevel',
  'accessMode',
  'retries',
  'propagation',
  'timeoutMs',
  'cost',
  'minLength',
  'maxBytes',
  'bcryptCost',
  'hasher',
  'policy',
  'envFile',
  'level',
  'format',
  'transports',
  'message',
  'toString',
  'toJSON',
];

/** An object whose every (enumerable, own) property throws when read. */
function throwingGetters(): object {
  const object: Record<string, unknown> = {};
  for (const key of GETTER_KEYS) Object.defineProperty(object, key, { get: trap, enumerable: true });
  return object;
}

/** A Proxy whose every trap throws: get, has, ownKeys, getPrototypeOf, descriptors, apply. */
function throwingProxy(): object {
  return new Proxy(
    {},
    {
      get: trap,
      has: trap,
      ownKeys: trap,
      getPrototypeOf: trap,
      getOwnPropertyDescriptor: trap,
      set: trap,
      defineProperty: trap,
      deleteProperty: trap,
      isExtensible: trap,
      preventExtensions: trap,
    },
  );
}

/** A cursor with its checksum recomputed over values of our choosing (the checksum has no secret). */
export function forgeCursor(scope: string, values: readonly unknown[]): string {
  const payload = JSON.stringify(values);
  const sum = createHash('sha256').update(scope).update('\0').update(payload).digest('base64url').slice(0, 12);
  return `${Buffer.from(payload).toString('base64url')}.${sum}`;
}

/** The cursor with one digit of its payload changed and the old checksum kept. */
export function tamperCursor(cursor: string): string {
  const [payload = '', sum = ''] = cursor.split('.');
  const text = Buffer.from(payload, 'base64url')
    .toString('utf8')
    .replace(/\d/, (d) => String((Number(d) + 1) % 10));
  return `${Buffer.from(text).toString('base64url')}.${sum}`;
}

/** Values that are well typed for the usual sort orders: text, an id, and a timestamp. */
function forgedValues(scope: string): unknown[] {
  const columns = scope.slice(scope.indexOf('|') + 1).split(',');
  return columns.map((column) =>
    /createdAt|At:/.test(column) ? ['s', '2999-01-01 00:00:00.000000+00 AD'] : ['s', '1'],
  );
}

/** The same object in every slot. */
function same(make: () => unknown): (kind: SlotKind) => unknown {
  return () => make();
}

/** An object in object slots, a name in string slots. */
function keyed(make: () => unknown, name: string): (kind: SlotKind) => unknown {
  return (kind) => (kind === 'string' || kind === 'column' || kind === 'table' || kind === 'id' ? name : make());
}

/**
 * The catalogue: undefined, null, Symbol keys, Proxies, throwing getters, prototype keys, wrong
 * types, NUL, lone surrogates, huge strings, forged and tampered cursors, catalog table names.
 * `toastTable` is a real `pg_toast.pg_toast_<oid>` name of the server under test.
 */
export function hostileCatalogue(toastTable: string): HostileInput[] {
  const text = (value: string): HostileInput['value'] => same(() => value);
  return [
    { name: 'undefined', value: same(() => undefined) },
    { name: 'null', value: same(() => null) },
    { name: 'an object with only Symbol keys', value: same(() => ({ [Symbol('hostile')]: 'x' })) },
    { name: 'an empty object', value: same(() => ({})) },
    { name: 'a Proxy whose every trap throws', value: same(throwingProxy) },
    { name: 'an object whose getters throw', value: same(throwingGetters) },
    {
      name: "a '__proto__' key (JSON.parse)",
      value: keyed(
        () => JSON.parse('{"__proto__":{"id":"1","name":"p","isActive":false,"limit":1}}') as unknown,
        '__proto__',
      ),
    },
    {
      name: "a 'constructor' key",
      value: keyed(() => ({ constructor: { prototype: { polluted: true } } }), 'constructor'),
    },
    { name: "a 'prototype' key", value: keyed(() => ({ prototype: { polluted: true } }), 'prototype') },
    { name: 'a number (42)', value: same(() => 42) },
    { name: "an array (['a', ['b']])", value: same(() => ['a', ['b']]) },
    { name: 'a function', value: same(() => () => 'x') },
    { name: 'a Date', value: same(() => new Date(0)) },
    { name: 'a bigint (2n ** 70n)', value: same(() => 2n ** 70n) },
    { name: 'a NUL byte', value: text('ali\u0000ce') },
    { name: 'a lone surrogate', value: text('ali\uD800ce') },
    { name: 'a 10 MB string', value: text(HUGE) },
    {
      name: 'a forged cursor',
      forged: true,
      value: (kind, cursor) =>
        kind === 'cursor' && cursor
          ? forgeCursor(cursor.scope, forgedValues(cursor.scope))
          : forgeCursor('reliabilityCounters|id:asc', [['s', '1']]),
    },
    {
      name: 'a tampered cursor',
      tampered: true,
      value: (_kind, cursor) => tamperCursor(cursor?.issued ?? forgeCursor('reliabilityCounters|id:asc', [['s', '1']])),
    },
    { name: "catalog table 'pg_authid'", catalog: true, value: text('pg_authid') },
    { name: "catalog table 'pg_catalog.pg_class'", catalog: true, value: text('pg_catalog.pg_class') },
    { name: "catalog table 'information_schema.tables'", catalog: true, value: text('information_schema.tables') },
    { name: `catalog table '${toastTable}'`, catalog: true, value: text(toastTable) },
  ];
}
