/**
 * The one place this package touches node-postgres' private state. Each use has a behavioural
 * self-test, run once per process before the first connection (see {@link checkPgInternals}):
 * it runs the use against pg objects in memory — a Client over a scripted in-memory wire for the
 * protocol tricks — and compares with what pg's public path gives. A use whose test fails is
 * switched off: the driver takes the public path instead and logs once which use it lost.
 *
 * What is used, and the public path it falls back to:
 * - a Query built from its text with `name`, `queryMode` and the result's `_types` set on it
 *   (pg copies every config object it is given, about 4 µs a statement) → the config object;
 * - the Client's `readyForQuery` and `_queryQueue`, and its Connection's `parse`, `bind`,
 *   `execute` without a Sync, to send a transaction's BEGIN in the same batch as its first
 *   statement → BEGIN as a statement of its own (one round trip more per transaction);
 * - the Connection's `parsedStatements` / `submittedNamedStatements`, to know which named
 *   statements the server holds → every name is taken as held (DEALLOCATE of an unknown name is
 *   harmless outside a transaction);
 * - the Client's `pipeline` flag, switched per check-out → no statement shares a busy connection;
 * - the Connection's `stream`, corked per tick and destroyed by close() → no write coalescing;
 *   close() ends such a connection through the pool instead;
 * - `pg.utils.prepareValue` for the text of a Date → the same format written here;
 * - the Client's `processID`, for cancelling a statement → `select pg_backend_pid()` (checked
 *   where it is read: a value that is not a positive number is not used).
 */
import { Duplex } from 'node:stream';
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

/** Which private uses passed their self-test. */
export interface PgInternalsReport {
  /** A Query built from text, fields set on it. */
  readonly queryFields: boolean;
  /** BEGIN sent unsynced ahead of a statement, with pg's bookkeeping of parsed statements exact. */
  readonly batchedBegin: boolean;
  /** Reading and forgetting which named statements pg takes as parsed. */
  readonly parsedStatements: boolean;
  /** Switching pipeline mode per check-out. */
  readonly pipelineFlag: boolean;
  /** The connection's socket, to cork and destroy. */
  readonly socket: boolean;
  /** pg's own text for a Date parameter. */
  readonly prepareValue: boolean;
}

/** The Query fields pg reads when it submits a query, and the result that parses its rows. */
interface QueryFields {
  text?: string;
  values?: unknown[];
  name?: string | undefined;
  queryMode?: string | undefined;
  _result?: { _types?: unknown };
}

interface WireConnection {
  readonly stream: { cork(): void; uncork(): void; destroy(): void };
  readonly parsedStatements: Record<string, string | undefined>;
  readonly submittedNamedStatements?: Record<string, string | undefined>;
  parse(query: { text: string; name: string }): void;
  bind(config: Record<string, never>): void;
  execute(config: Record<string, never>): void;
}

interface ClientInternals {
  readyForQuery: boolean;
  readonly _queryQueue: readonly unknown[];
  pipeline: boolean;
  readonly connection: WireConnection;
}

/** The Client's query method, taking a Query (a Submittable) or a config object. */
interface Queryable {
  query(query: pg.Query): unknown;
  query(config: pg.QueryConfig, callback: PgQueryCallback): void;
}

const internals = (client: object): ClientInternals => client as unknown as ClientInternals;

/** The uses switched on; all off until checkPgInternals() has run. */
let report: PgInternalsReport = {
  queryFields: false,
  batchedBegin: false,
  parsedStatements: false,
  pipelineFlag: false,
  socket: false,
  prepareValue: false,
};

/** Which private uses are on (after checkPgInternals). */
export function pgInternalsReport(): PgInternalsReport {
  return report;
}

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
  fieldsKnown: boolean = report.queryFields,
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

/** Whether BEGIN can be sent in the same batch as the next statement on `client` right now. */
export function canBatchBegin(client: object): boolean {
  if (!report.batchedBegin) return false;
  const state = internals(client);
  return state.readyForQuery === true && state._queryQueue.length === 0;
}

/**
 * Writes `begin` as Parse, Bind, Execute without a Sync, then calls `send`, which must submit
 * one extended-protocol statement on `client` at once (its Sync ends the batch), all in one
 * write. Only when canBatchBegin(client) said so. Never throws but what `send` throws.
 */
export function sendUnsyncedBefore(client: object, begin: string, send: () => void): void {
  const wire = internals(client).connection;
  wire.stream.cork();
  try {
    wire.parse({ text: begin, name: '' });
    wire.bind({});
    wire.execute({});
    send();
  } finally {
    wire.stream.uncork();
  }
}

/** Whether pg takes the named statement `name` as parsed on `client` (true when it cannot tell). */
export function isParsed(client: object, name: string): boolean {
  if (!report.parsedStatements) return true;
  const wire = internals(client).connection;
  return wire.parsedStatements[name] !== undefined || wire.submittedNamedStatements?.[name] !== undefined;
}

/** Makes pg forget the named statement `name` on `client` (it was deallocated). Never throws. */
export function forgetParsed(client: object, name: string): void {
  if (!report.parsedStatements) return;
  const wire = internals(client).connection;
  delete wire.parsedStatements[name];
  if (wire.submittedNamedStatements) delete wire.submittedNamedStatements[name];
}

/** Whether statements may share a busy connection (pg's pipeline mode can be switched). */
export function canPipeline(): boolean {
  return report.pipelineFlag;
}

/**
 * Switches pg's pipeline mode on a client: pg reads the flag on every send (the typings call it
 * readonly because it is meant as a constructor option). Only when canPipeline(). Never throws.
 */
export function setPipeline(client: object, on: boolean): void {
  if (report.pipelineFlag) internals(client).pipeline = on;
}

/** The client's socket, for write coalescing and for close(); undefined when not known. */
export function clientSocket(
  client: object,
): { cork(): void; uncork(): void; destroy(): void; readonly destroyed?: boolean } | undefined {
  return report.socket ? internals(client).connection.stream : undefined;
}

/** The server's process id for the client's session, as pg read it at connect; undefined when not known. */
export function backendPid(client: object): number | undefined {
  const pid = (client as { processID?: unknown }).processID;
  return typeof pid === 'number' && pid > 0 ? pid : undefined;
}

/** The text pg sends for a Date parameter (local time with its offset, or UTC per pg.defaults). */
export function dateParameterText(date: Date): string {
  if (report.prepareValue) return pgPrepareValue!(date) as string;
  return ownDateText(date);
}

/**
 * The text pg sends for an array parameter: PostgreSQL's array literal (`{"1","2"}`), its elements
 * as pg sends them (Dates in pg's format, objects as JSON, bytes as `\\x` hex). The embedded engine
 * sends arrays this way too, so an array bound to a jsonb column fails there as it does on pg.
 */
export function arrayParameterText(array: readonly unknown[]): string {
  if (report.prepareValue) return pgPrepareValue!(array) as string;
  return ownArrayText(array);
}

/** pg 8's arrayString, for a pg whose prepareValue is not used (see arrayParameterText). */
function ownArrayText(array: readonly unknown[]): string {
  const items = array.map((item): string => {
    if (item === null || item === undefined) return 'NULL';
    if (Array.isArray(item)) return ownArrayText(item as unknown[]);
    if (ArrayBuffer.isView(item)) {
      return '\\\\x' + Buffer.from(item.buffer, item.byteOffset, item.byteLength).toString('hex');
    }
    const text =
      item instanceof Date
        ? dateParameterText(item)
        : typeof item === 'string'
          ? item
          : typeof item === 'number' || typeof item === 'bigint' || typeof item === 'boolean'
            ? String(item)
            : (JSON.stringify(item) ?? '');
    return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  });
  return `{${items.join(',')}}`;
}

type PrepareValue = (value: unknown) => unknown;
const pgPrepareValue = (pg as unknown as { utils?: { prepareValue?: PrepareValue } }).utils?.prepareValue;

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** pg 8's format for a Date parameter, for a pg without `utils.prepareValue`. */
function ownDateText(date: Date): string {
  const utc = (pg.defaults as { parseInputDatesAsUTC?: boolean }).parseInputDatesAsUTC === true;
  let year = utc ? date.getUTCFullYear() : date.getFullYear();
  const bc = year < 1;
  if (bc) year = Math.abs(year) + 1;
  const [month, day, hours, minutes, seconds, ms] = utc
    ? [
        date.getUTCMonth(),
        date.getUTCDate(),
        date.getUTCHours(),
        date.getUTCMinutes(),
        date.getUTCSeconds(),
        date.getUTCMilliseconds(),
      ]
    : [date.getMonth(), date.getDate(), date.getHours(), date.getMinutes(), date.getSeconds(), date.getMilliseconds()];
  let text = `${pad(year, 4)}-${pad(month + 1)}-${pad(day)}T${pad(hours)}:${pad(minutes)}:${pad(seconds)}.${pad(ms, 3)}`;
  if (utc) text += '+00:00';
  else {
    const offset = -date.getTimezoneOffset();
    const abs = Math.abs(offset);
    text += `${offset < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
  }
  return bc ? `${text} BC` : text;
}

// ---- self-tests ----------------------------------------------------------------------------

/** A Query built from text with fields set is the Query pg builds from the same config object. */
function checkQueryFields(): boolean {
  try {
    const types: TypeParsers = { getTypeParser: () => (text) => text };
    const ours = new pg.Query('select $1', ['x']) as unknown as QueryFields;
    if (!('name' in ours) || !('queryMode' in ours) || !(ours._result instanceof pg.Result)) return false;
    if (ours._result._types !== undefined) return false;
    ours.name = 'kr_probe';
    ours.queryMode = 'extended';
    ours._result._types = types;
    const theirs = new pg.Query({
      text: 'select $1',
      values: ['x'],
      name: 'kr_probe',
      queryMode: 'extended',
      types,
    } as pg.QueryConfig) as unknown as QueryFields;
    return (
      ours.text === theirs.text &&
      ours.values?.[0] === theirs.values?.[0] &&
      ours.name === theirs.name &&
      ours.queryMode === theirs.queryMode &&
      ours._result._types === theirs._result?._types
    );
  } catch {
    return false;
  }
}

/** The pipeline flag and the socket are where pg keeps them on a Client. */
function checkClientFields(): { pipelineFlag: boolean; socket: boolean } {
  try {
    const client = internals(new pg.Client({ pipeline: false }));
    const pipelineFlag = typeof client.pipeline === 'boolean';
    const stream = client.connection?.stream as Partial<WireConnection['stream']> | undefined;
    const socket =
      typeof stream?.cork === 'function' && typeof stream.uncork === 'function' && typeof stream.destroy === 'function';
    return { pipelineFlag, socket };
  } catch {
    return { pipelineFlag: false, socket: false };
  }
}

/** pg.utils.prepareValue gives a Date's wall-clock text, as written here for a pg without it. */
function checkPrepareValue(): boolean {
  try {
    const probe = new Date(2001, 1, 3, 4, 5, 6, 789);
    return typeof pgPrepareValue === 'function' && pgPrepareValue(probe) === ownDateText(probe);
  } catch {
    return false;
  }
}

/** Backend messages, as the scripted server sends them. */
function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}
const cstring = (text: string): Buffer => Buffer.from(`${text}\0`, 'utf8');
function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}
function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

/**
 * An in-memory socket in front of a scripted PostgreSQL: it accepts the startup, then answers
 * each batch ending in Sync with `answer(types)`, given the frontend message types of the batch.
 */
class ScriptedWire extends Duplex {
  readonly batches: string[][] = [];
  #startup = true;
  #buffer = Buffer.alloc(0);
  #batch: string[] = [];
  /** The statement texts each batch parsed, in order. */
  readonly parsed: string[][] = [];
  #texts: string[] = [];

  constructor(private readonly answer: (types: string[]) => Buffer[]) {
    super();
  }

  connect(): this {
    process.nextTick(() => this.emit('connect'));
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: string, callback: (error?: Error | null) => void): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    if (this.#startup) {
      if (this.#buffer.length < 4 || this.#buffer.length < this.#buffer.readInt32BE(0)) return callback();
      this.#buffer = this.#buffer.subarray(this.#buffer.readInt32BE(0));
      this.#startup = false;
      this.push(Buffer.concat([message('R', int32(0)), message('Z', Buffer.from('I'))]));
    }
    while (this.#buffer.length >= 5 && this.#buffer.length >= 1 + this.#buffer.readInt32BE(1)) {
      const type = String.fromCharCode(this.#buffer[0]!);
      const length = this.#buffer.readInt32BE(1);
      const body = this.#buffer.subarray(5, 1 + length);
      this.#buffer = this.#buffer.subarray(1 + length);
      this.#batch.push(type);
      if (type === 'P')
        this.#texts.push(body.subarray(body.indexOf(0) + 1, body.indexOf(0, body.indexOf(0) + 1)).toString());
      if (type === 'S') {
        this.batches.push(this.#batch);
        this.parsed.push(this.#texts);
        this.push(Buffer.concat(this.answer(this.#batch)));
        this.#batch = [];
        this.#texts = [];
      }
    }
    callback();
  }
}

/**
 * BEGIN written unsynced ahead of a named statement: one batch on the wire, the statement's rows
 * as the result, pg's bookkeeping of parsed statements as the server's (the statement, not BEGIN,
 * made its name parsed), and the client idle again afterwards — against a scripted server.
 */
async function checkBatchedBegin(queryFields: boolean): Promise<{ batchedBegin: boolean; parsedStatements: boolean }> {
  const fail = { batchedBegin: false, parsedStatements: false };
  const wire = new ScriptedWire((types) => {
    const out: Buffer[] = [];
    const withBegin = types.filter((t) => t === 'P').length === 2;
    let executes = 0;
    for (const type of types) {
      if (type === 'P') out.push(message('1'));
      if (type === 'B') out.push(message('2'));
      if (type === 'D') {
        const field = Buffer.concat([cstring('v'), int32(0), int16(0), int32(25), int16(-1), int32(-1), int16(0)]);
        out.push(message('T', Buffer.concat([int16(1), field])));
      }
      if (type === 'E' && withBegin && ++executes === 1) out.push(message('C', cstring('BEGIN')));
      else if (type === 'E') {
        out.push(
          message('D', Buffer.concat([int16(1), int32(1), Buffer.from('x')])),
          message('C', cstring('SELECT 1')),
        );
      }
    }
    out.push(message('Z', Buffer.from('T')));
    return out;
  });
  const client = new pg.Client({ stream: () => wire, ssl: false });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const state = internals(client);
    if (state.readyForQuery !== true || !Array.isArray(state._queryQueue) || state._queryQueue.length !== 0)
      return fail;
    const wireState = state.connection;
    if (typeof wireState.parsedStatements !== 'object' || wireState.parsedStatements === null) return fail;
    // the bookkeeping as pg's own Query consults it
    const probe = new pg.Query('select 1') as unknown as { name?: string; hasBeenParsed(c: unknown): boolean };
    probe.name = 'kr_probe_marked';
    wireState.parsedStatements['kr_probe_marked'] = 'select 1';
    const marked = probe.hasBeenParsed(wireState);
    delete wireState.parsedStatements['kr_probe_marked'];
    const parsedStatements = marked && !probe.hasBeenParsed(wireState);
    const result = await new Promise<pg.QueryResult | pg.QueryResult[]>((resolve, reject) => {
      const send = (): void =>
        submitPgQuery(
          client,
          'select $1::text as v',
          ['x'],
          { name: 'kr_probe', extended: true, types: pg.types },
          (error, value) => (error ? reject(error) : resolve(value)),
          queryFields,
        );
      sendUnsyncedBefore(client, 'begin', send);
    });
    const last = Array.isArray(result) ? result[result.length - 1] : result;
    const batch = wire.batches[0]?.join('');
    const batchedBegin =
      parsedStatements &&
      batch === 'PBEPBDES' &&
      wire.parsed[0]?.join(';') === 'begin;select $1::text as v' &&
      wire.batches.length === 1 &&
      (last?.rows[0] as { v?: unknown } | undefined)?.v === 'x' &&
      state.readyForQuery === true &&
      state._queryQueue.length === 0;
    return { batchedBegin, parsedStatements };
  } catch {
    return fail;
  } finally {
    wire.destroy();
  }
}

let checked: Promise<PgInternalsReport> | undefined;

/**
 * Runs the self-tests once per process (later calls share the first run) and switches on the
 * uses that passed. Never throws: a use whose test throws is off.
 */
export function checkPgInternals(): Promise<PgInternalsReport> {
  checked ??= (async () => {
    const fields = checkClientFields();
    const queryFields = checkQueryFields();
    const batch = await checkBatchedBegin(queryFields);
    report = Object.freeze({
      queryFields,
      ...batch,
      ...fields,
      prepareValue: checkPrepareValue(),
    });
    return report;
  })();
  return checked;
}
