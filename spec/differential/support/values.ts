/**
 * Values for the generated columns: NULLs, extremes, Unicode, dates far away, JSON documents —
 * the JS values a caller would hand to Repository (and that stock Kysely gets the very same of).
 */
import fc from 'fast-check';
import type { ColumnSpec, ColumnType } from './schema.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A value a column is given (or compared with). */
export type Value = null | boolean | number | bigint | string | Date | JsonValue[] | JsonObject;

/**
 * Generator features that can be switched off (FUZZ_DISABLE=a,b in scripts/fuzz.ts) to look past
 * a known difference for other ones. The spec never switches any off.
 */
export const FEATURES = [
  /** JS NaN for double precision and numeric columns. */
  'nan-number',
  /** JS ±Infinity for double precision and numeric columns. */
  'infinite-number',
  /** Date objects outside the years 1000–9999 (BC, and years with five digits or more). */
  'extreme-dates',
  /** Date objects in timestamp and date columns (text values stay). */
  'local-dates',
  /** 'infinity' and '-infinity' in date and time columns (pg reads them back as JS ±Infinity). */
  'infinite-dates',
  /** A create (or a createMany row) that names no column at all. */
  'empty-create',
  /** Text keys the package will not take as an id: '' and more than 255 characters. */
  'edge-ids',
  /** Strings (JSON text) and arrays as jsonb values. */
  'jsonb-text',
  /** true and false as jsonb values (COPY writes JS booleans as t / f). */
  'jsonb-booleans',
  /** jsonb object keys with an underscore (which the CamelCasePlugin rewrites by default). */
  'jsonb-underscore-keys',
  /** Text values of thousands of characters. */
  'long-text',
  /** createMany with rows that name different columns. */
  'mixed-createmany',
  /** Keyset pagination sorted by a nullable column. */
  'keyset-nullable',
  /** Keyset pagination sorted by a date or time column. */
  'keyset-temporal',
  /** Keyset pagination sorted by a double precision column. */
  'keyset-double',
  /** A transaction whose first statement fails. */
  'first-statement-failure',
  /** Where callbacks comparing a column with a value of the wrong type (the server refuses them). */
  'where-type-errors',
  /** Where callbacks (their rows come through the Kysely instance's plugins). */
  'where-callback',
  /** paginate with withTotal (the total is counted by a second statement sent alongside). */
  'with-total',
  /** Reads sent at the same time (pipelining). */
  'parallel',
  /**
   * Another session updating a row while a serializable transaction is open (the embedded engine
   * has one session, so it runs without).
   */
  'outside-session',
] as const;
export type Feature = (typeof FEATURES)[number];

/** Which features are on. */
export class Features {
  readonly #off: ReadonlySet<Feature>;
  constructor(off: Iterable<Feature> = []) {
    this.#off = new Set(off);
  }
  on(feature: Feature): boolean {
    return !this.#off.has(feature);
  }
  get disabled(): Feature[] {
    return [...this.#off];
  }
  static parse(list: string | undefined): Features {
    const names = (list ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    for (const name of names) {
      if (!(FEATURES as readonly string[]).includes(name)) {
        throw new Error(`unknown feature ${name}; known: ${FEATURES.join(', ')}`);
      }
    }
    return new Features(names as Feature[]);
  }
}

/**
 * fc.oneof with any non-negative weights (fast-check wants integers): scaled by 10 and rounded,
 * zero weights left out. Bare arbitraries weigh 1.
 */
export function weighted<T>(
  ...items: (fc.Arbitrary<T> | { weight: number; arbitrary: fc.Arbitrary<T> })[]
): fc.Arbitrary<T> {
  const scaled = items
    .map((item) => ('arbitrary' in item ? item : { weight: 1, arbitrary: item }))
    .map(({ weight, arbitrary }) => ({ weight: Math.round(weight * 10), arbitrary }))
    .filter(({ weight }) => weight > 0);
  return fc.oneof(...scaled);
}

/** Weighted choices, leaving out those whose feature is off. */
function choose<T>(features: Features, items: readonly [number, fc.Arbitrary<T>, Feature?][]): fc.Arbitrary<T> {
  const kept = items.filter(([, , feature]) => feature === undefined || features.on(feature));
  return weighted(...kept.map(([weight, arbitrary]) => ({ weight, arbitrary })));
}

/** Text PostgreSQL stores as given: no NUL, no lone surrogate. */
const UNSTORABLE = /[\0\p{Cs}]/gu;
export function storable(text: string): string {
  return text.replace(UNSTORABLE, '');
}

const SPECIAL_TEXTS = [
  '',
  ' ',
  'a',
  'A',
  'Z',
  'é',
  'e\u0301', // e + combining acute
  'a\u0308\u0301\u0323', // stacked combining marks
  '\u{1F600}', // astral plane
  '\u{1F44D}\u{1F3FD}', // emoji + skin tone modifier
  '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}', // ZWJ sequence
  '\u{1D518}\u{1D52B}\u{1D526}', // mathematical fraktur
  '\u{10FFFF}',
  '\uFFFD',
  '\u200B',
  'ß',
  'İ',
  'ﬁ',
  '\\N', // COPY's NULL marker, as text
  '\\',
  '\\\\x00',
  '\t',
  '\n',
  '\r\n',
  '"',
  "'",
  "O'Brien",
  '{}',
  '[1,2]',
  '{"a":1}',
  'NULL',
  'null',
  'true',
  '1e5',
  '  padded  ',
];

/** Short text drawn from a handful of values: collisions on purpose (unique violations, equal sort keys). */
export const smallText: fc.Arbitrary<string> = fc.constantFrom('a', 'b', 'c', 'k1', 'k2', 'é', 'e\u0301');

/** Any storable text. */
export function textArbitrary(features: Features, maxLength = 12): fc.Arbitrary<string> {
  return choose(features, [
    [4, fc.constantFrom(...SPECIAL_TEXTS)],
    [3, smallText],
    [4, fc.string({ unit: 'grapheme', maxLength })],
    [2, fc.string({ unit: 'binary', maxLength }).map(storable)],
    [1, fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 4 }).map((s) => s.repeat(80))],
    [1, fc.constantFrom('x'.repeat(4000), '\u{1F600}'.repeat(1500), 'é'.repeat(3000)), 'long-text'],
  ]);
}

const INT4_MIN = -2147483648;
const INT4_MAX = 2147483647;
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

const integerValue: fc.Arbitrary<Value> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -5, max: 5 }) },
  { weight: 3, arbitrary: fc.integer({ min: INT4_MIN, max: INT4_MAX }) },
  { weight: 2, arbitrary: fc.constantFrom(INT4_MIN, INT4_MAX, 0, -1, 1) },
  { weight: 1, arbitrary: fc.integer({ min: -1000, max: 1000 }).map(String) },
);

const bigintValue: fc.Arbitrary<Value> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -5, max: 5 }) },
  { weight: 2, arbitrary: fc.constantFrom('-9223372036854775808', '9223372036854775807', '0', '-1') },
  { weight: 2, arbitrary: fc.bigInt({ min: INT8_MIN, max: INT8_MAX }).map(String) },
  { weight: 1, arbitrary: fc.bigInt({ min: INT8_MIN, max: INT8_MAX }) },
  { weight: 1, arbitrary: fc.maxSafeInteger() },
);

function numericValue(features: Features): fc.Arbitrary<Value> {
  const decimal = fc
    .tuple(fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }), fc.nat({ max: 30 }))
    .map(([digits, scale]) => {
      const sign = digits < 0n ? '-' : '';
      const text = (digits < 0n ? -digits : digits).toString().padStart(scale + 1, '0');
      return scale === 0 ? `${sign}${text}` : `${sign}${text.slice(0, -scale)}.${text.slice(-scale)}`;
    });
  return choose<Value>(features, [
    [4, fc.integer({ min: -5, max: 5 })],
    [4, decimal],
    [2, fc.constantFrom('NaN', 'Infinity', '-Infinity', '0.000000000000000000001', '1e-5', '-0', '1E+20')],
    [2, fc.double({ noNaN: true, noDefaultInfinity: true })],
    [1, fc.constant(Number.NaN), 'nan-number'],
    [1, fc.constantFrom(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY), 'infinite-number'],
  ]);
}

function doubleValue(features: Features): fc.Arbitrary<Value> {
  return choose<Value>(features, [
    [4, fc.integer({ min: -5, max: 5 })],
    [4, fc.double({ noNaN: true, noDefaultInfinity: true })],
    [
      2,
      fc.constantFrom(
        -0,
        0.1,
        5e-324,
        -5e-324,
        Number.MAX_VALUE,
        -Number.MAX_VALUE,
        Number.MIN_VALUE,
        Number.EPSILON,
        2 ** 53 + 2,
      ),
    ],
    [1, fc.constantFrom('Infinity', '-Infinity', '-1.5e10', '1e-300')],
    // pg reads 'NaN' back as the number NaN: a row read and written back hands the package NaN
    [0.3, fc.constant('NaN'), 'nan-number'],
    [1, fc.constant(Number.NaN), 'nan-number'],
    [1, fc.constantFrom(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY), 'infinite-number'],
  ]);
}

function utcDate(year: number, month = 0, day = 1, ms = 0): Date {
  const date = new Date(Date.UTC(2000, month, day) + ms);
  date.setUTCFullYear(year);
  return date;
}

/** Dates (with milliseconds) from the start of `minYear` to the end of `maxYear`, UTC. */
function datesBetween(minYear: number, maxYear: number): fc.Arbitrary<Date> {
  const min = utcDate(minYear);
  const max = new Date(Math.min(utcDate(maxYear + 1).getTime() - 1, 8.64e15));
  return fc.date({ min, max, noInvalidDate: true });
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** `YYYY-MM-DD` (years of four digits or more), optionally BC. */
const dateText: fc.Arbitrary<string> = fc
  .record({
    year: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 1900, max: 2100 }) },
      { weight: 2, arbitrary: fc.integer({ min: 1, max: 9999 }) },
      { weight: 1, arbitrary: fc.integer({ min: 10000, max: 200000 }) },
    ),
    month: fc.integer({ min: 1, max: 12 }),
    day: fc.integer({ min: 1, max: 28 }),
  })
  .map(({ year, month, day }) => `${pad(year, 4)}-${pad(month)}-${pad(day)}`);

const timeText: fc.Arbitrary<string> = fc
  .record({
    hour: fc.integer({ min: 0, max: 23 }),
    minute: fc.integer({ min: 0, max: 59 }),
    second: fc.integer({ min: 0, max: 59 }),
    fraction: fc.oneof(
      fc.constant(''),
      fc.integer({ min: 0, max: 999 }).map((ms) => `.${pad(ms, 3)}`),
      fc.integer({ min: 0, max: 999999 }).map((us) => `.${pad(us, 6)}`),
    ),
  })
  .map(({ hour, minute, second, fraction }) => `${pad(hour)}:${pad(minute)}:${pad(second)}${fraction}`);

const offsetText = fc.constantFrom('+00', 'Z', '+05:45', '-03:30', '+14', '-12:00', '+00:00', '+0530');

/** Timestamps as text, with microseconds, offsets, BC and ±infinity. */
function timestampText(withOffset: boolean, features: Features): fc.Arbitrary<string> {
  return weighted(
    {
      weight: 8,
      arbitrary: fc
        .tuple(dateText, fc.constantFrom(' ', 'T'), timeText, withOffset ? offsetText : fc.constant(''))
        .map(([d, sep, t, o]) => `${d}${sep}${t}${o}`),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 1, max: 4713 }), timeText)
        .map(([year, t]) => `${pad(year, 4)}-03-15 ${t}${withOffset ? '+00' : ''} BC`),
    },
    { weight: features.on('infinite-dates') ? 1 : 0, arbitrary: fc.constantFrom('infinity', '-infinity') },
  );
}

function dateOnlyText(features: Features): fc.Arbitrary<string> {
  return weighted(
    { weight: 8, arbitrary: dateText },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 4713 }).map((y) => `${pad(y, 4)}-12-31 BC`) },
    { weight: 1, arbitrary: fc.constant('4713-01-01 BC') },
    // the last date PostgreSQL takes, far past the last timestamp
    { weight: features.on('extreme-dates') ? 1 : 0, arbitrary: fc.constant('5874897-12-31') },
    { weight: features.on('infinite-dates') ? 1 : 0, arbitrary: fc.constantFrom('infinity', '-infinity') },
  );
}

/**
 * Dates for timestamptz. Not before 1936: pg serializes a Date with its local UTC offset in whole
 * minutes, and before then Asia/Kathmandu and America/St_Johns had offsets with seconds (local
 * mean time), so stock pg itself would store another instant. Earlier instants are given as text.
 */
function timestamptzValue(features: Features): fc.Arbitrary<Value> {
  return choose<Value>(features, [
    [5, datesBetween(1936, 2100)],
    [2, datesBetween(1936, 9999)],
    [1, datesBetween(10000, 275000), 'extreme-dates'],
    [4, timestampText(true, features)],
  ]);
}

function timestampValue(features: Features): fc.Arbitrary<Value> {
  return choose<Value>(features, [
    [5, datesBetween(1900, 2100), 'local-dates'],
    [2, datesBetween(1000, 9999), 'local-dates'],
    [1, datesBetween(-4000, 999), 'extreme-dates'],
    [1, datesBetween(10000, 275000), 'extreme-dates'],
    [4, timestampText(false, features)],
  ]);
}

function dateValue(features: Features): fc.Arbitrary<Value> {
  return choose<Value>(features, [
    [4, datesBetween(1900, 2100), 'local-dates'],
    [1, datesBetween(1000, 9999), 'local-dates'],
    [1, datesBetween(-4000, 999), 'extreme-dates'],
    [4, dateOnlyText(features)],
  ]);
}

function jsonKey(features: Features): fc.Arbitrary<string> {
  return choose(features, [
    [4, fc.constantFrom('a', 'b', 'k', 'camelKey', 'é', '\u{1D518}', '', ' ')],
    [
      2,
      fc
        .string({ unit: 'grapheme', maxLength: 6 })
        .filter((k) => k !== '__proto__' && (features.on('jsonb-underscore-keys') || !k.includes('_'))),
    ],
    [1, fc.constantFrom('snake_key', 'a_b_c', '_lead'), 'jsonb-underscore-keys'],
  ]);
}

function jsonTree(features: Features): fc.Arbitrary<JsonValue> {
  const key = jsonKey(features);
  const leaf: fc.Arbitrary<JsonValue> = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    textArbitrary(features, 8),
  );
  const { node } = fc.letrec<{ node: JsonValue }>((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.array(tie('node'), { maxLength: 3 }),
      fc
        .uniqueArray(fc.tuple(key, tie('node')), { maxLength: 3, selector: ([k]) => k })
        .map((entries): JsonValue => Object.fromEntries(entries)),
    ),
  }));
  return node;
}

function jsonbValue(features: Features): fc.Arbitrary<Value> {
  const tree = jsonTree(features);
  const object = fc
    .uniqueArray(fc.tuple(jsonKey(features), tree), { maxLength: 4, selector: ([k]) => k })
    .map((entries): JsonObject => Object.fromEntries(entries));
  return choose<Value>(features, [
    [6, object],
    [1, fc.integer()],
    [1, fc.boolean(), 'jsonb-booleans'],
    [1, tree.map((v) => JSON.stringify(v)), 'jsonb-text'],
    [1, fc.array(tree, { maxLength: 3 }), 'jsonb-text'],
  ]);
}

/** Non-null values for a column of `type`. */
export function typedValue(type: ColumnType, features: Features): fc.Arbitrary<Value> {
  switch (type) {
    case 'text':
      return textArbitrary(features);
    case 'integer':
      return integerValue;
    case 'bigint':
      return bigintValue;
    case 'numeric':
      return numericValue(features);
    case 'double precision':
      return doubleValue(features);
    case 'boolean':
      return fc.boolean();
    case 'timestamptz':
      return timestamptzValue(features);
    case 'timestamp':
      return timestampValue(features);
    case 'date':
      return dateValue(features);
    case 'jsonb':
      return jsonbValue(features);
    case 'uuid':
      return uuidValue;
  }
}

/** uuids: a few fixed ones (collisions on purpose) and random ones. */
export const uuidValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '00000000-0000-4000-8000-000000000001',
    '00000000-0000-4000-8000-000000000002',
    'ffffffff-ffff-4fff-bfff-ffffffffffff',
  ),
  fc.uuid({ version: 4 }),
);

/** Values of a column's type that collide often (for unique columns and text keys). */
export function collidingValue(column: ColumnSpec, features: Features): fc.Arbitrary<Value> {
  switch (column.type) {
    case 'text':
      return fc.oneof({ weight: 3, arbitrary: smallText }, { weight: 2, arbitrary: textArbitrary(features) });
    case 'integer':
    case 'bigint':
      return fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: 0, max: 6 }) },
        { weight: 1, arbitrary: typedValue(column.type, features) },
      );
    case 'uuid':
      return uuidValue;
    default:
      return typedValue(column.type, features);
  }
}

/** Values for a column: of its type, or NULL (NOT NULL columns too, rarely: a violation to compare). */
export function columnValue(column: ColumnSpec, features: Features): fc.Arbitrary<Value> {
  let base =
    column.unique || column.type === 'uuid' ? collidingValue(column, features) : typedValue(column.type, features);
  if ('kind' in column && !features.on('edge-ids')) {
    base = base.filter((v) => typeof v !== 'string' || (v.length > 0 && v.length <= 255));
  }
  return weighted<Value>(
    { weight: 8, arbitrary: base },
    { weight: column.nullable ? 2 : 0.2, arbitrary: fc.constant(null) },
  );
}

// ---- printing --------------------------------------------------------------------------------

/** A string literal a human can read, with everything outside printable ASCII escaped. */
export function showString(text: string): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (code >= 0x20 && code < 0x7f) out += ch;
    else out += code > 0xffff ? `\\u{${code.toString(16).toUpperCase()}}` : `\\u${code.toString(16).padStart(4, '0')}`;
  }
  return `${out}"`;
}

/** A value as JavaScript source a human can read (and mostly paste). */
export function showValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') {
    if (value.length > 60) {
      const repeated = /^(.{1,4}?)\1+$/su.exec(value);
      if (repeated) return `${showString(repeated[1]!)}.repeat(${value.length / repeated[1]!.length})`;
    }
    return showString(value);
  }
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'boolean') return String(value);
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? 'new Date(NaN)' : `new Date(${showString(value.toISOString())})`;
  }
  if (Array.isArray(value)) return `[${value.map(showValue).join(', ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).map(
      ([k, v]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : showString(k)}: ${showValue(v)}`,
    );
    return entries.length === 0 ? '{}' : `{ ${entries.join(', ')} }`;
  }
  if (typeof value === 'function') return '<function>';
  return typeof value === 'symbol' ? value.toString() : '<unknown>';
}
