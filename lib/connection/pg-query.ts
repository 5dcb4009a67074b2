/**
 * Handing a statement to a pg Client without pg's per-query copy of its config object.
 *
 * pg 8.23 copies every config object given to `client.query` (`Object.defineProperties` over
 * `Object.getOwnPropertyDescriptors`, to leave the caller's object alone): about 4 µs a query on
 * a 2-core machine, as much as a fifth of a lookup's client CPU. A Query built from its text skips
 * the copy; its name, mode and type parsers are then set on it, the parsers where pg's own Client
 * sets them for a query that has none. If pg's Query ever stops looking like that, the config
 * object is used as before.
 */
import pg from 'pg';

/** pg's `types` option: where a query's result finds the parser of each field. */
export interface TypeParsers {
  getTypeParser(oid: number, format?: string): (text: string) => unknown;
}

/** How a statement is sent. */
export interface PgQueryOptions {
  /** Its prepared statement name: parsed once per connection, then only bound. */
  readonly name: string | undefined;
  /** Sent with the extended protocol (Parse, Bind, Execute) even without parameters. */
  readonly extended: boolean;
  /** Parses its result's fields. */
  readonly types: TypeParsers;
}

/** What a statement's callback receives: pg's result, or an array of them for a batch. */
export type PgQueryCallback = (error: Error | undefined, result: pg.QueryResult) => void;

/** The Query fields pg reads when it submits a query, and the result that parses its rows. */
interface QueryFields {
  name?: string | undefined;
  queryMode?: string | undefined;
  _result?: { _types?: unknown };
}

/** The Client's query method, taking a Query (a Submittable) or a config object. */
interface Queryable {
  query(query: pg.Query): unknown;
  query(config: pg.QueryConfig, callback: PgQueryCallback): void;
}

/** Whether this pg's Query has the fields set here (checked once, on a Query that sends nothing). */
export const QUERY_FIELDS_KNOWN: boolean = (() => {
  const probe = new pg.Query('select 1') as unknown as QueryFields;
  const result = probe._result;
  return (
    'name' in probe &&
    'queryMode' in probe &&
    result instanceof pg.Result &&
    '_types' in result &&
    result._types === undefined
  );
})();

/**
 * Queues `text` with `values` on `client`, named and moded as `options` say; `callback` gets
 * the result. Never throws: pg reports every failure to the callback.
 */
export function submitPgQuery(
  client: Queryable,
  text: string,
  values: readonly unknown[],
  options: PgQueryOptions,
  callback: PgQueryCallback,
  fieldsKnown: boolean = QUERY_FIELDS_KNOWN,
): void {
  if (!fieldsKnown) {
    client.query(
      {
        text,
        values: values as unknown[],
        ...(options.name ? { name: options.name } : {}),
        types: options.types,
        ...(options.extended ? { queryMode: 'extended' as const } : {}),
      },
      callback,
    );
    return;
  }
  const query = new pg.Query(text, values as unknown[], callback);
  const fields = query as unknown as QueryFields;
  if (options.name) fields.name = options.name;
  if (options.extended) fields.queryMode = 'extended';
  if (fields._result) fields._result._types = options.types;
  client.query(query);
}
