/**
 * What the database semantic conventions call a statement's operation, collection and summary,
 * read off its SQL text: the first keyword, and the table a single-table statement names first
 * (`select … from orders`, `insert into orders`, `update orders`, `delete from orders`,
 * `copy orders`). Only keywords and an identifier are ever taken from the text, never a literal,
 * so a summary carries no value the statement binds or embeds.
 */

import { RecentlyUsed } from '../recently-used.js';

/** A statement's operation (upper case), the table it names (when one), and `operation table`. */
export interface QuerySummary {
  readonly operation: string | undefined;
  readonly collection: string | undefined;
  /** `SELECT orders`, `BEGIN`; undefined when the text starts with no keyword. */
  readonly summary: string | undefined;
}

const NONE: QuerySummary = { operation: undefined, collection: undefined, summary: undefined };

/** Keyword after which a statement's first table follows. */
const TABLE_AFTER: Readonly<Record<string, string | null>> = {
  SELECT: 'FROM',
  DELETE: 'FROM',
  INSERT: 'INTO',
  MERGE: 'INTO',
  UPDATE: null,
  COPY: null,
  TRUNCATE: null,
};

const WORD = /[A-Za-z_][A-Za-z0-9_$]*/y;
const QUOTED = /"((?:[^"]|"")*)"/y;
const SPACE_OR_COMMENT = /(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/y;
const DOLLAR_TAG = /\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/y;
const MAX_CACHED = 500;
const MAX_SCANNED = 8192;

const cache = new RecentlyUsed<string, QuerySummary>(MAX_CACHED);

/** The operation, collection and summary of `sql` (remembered for the 500 texts used last). Never throws. */
export function querySummary(sql: string): QuerySummary {
  let summary = cache.get(sql);
  if (summary === undefined) {
    summary = summarize(sql.length > MAX_SCANNED ? sql.slice(0, MAX_SCANNED) : sql);
    cache.set(sql, summary);
  }
  return summary;
}

function summarize(sql: string): QuerySummary {
  const scan = new Scanner(sql);
  const first = scan.word();
  if (first === undefined) return NONE;
  const operation = first.toUpperCase();
  if (!Object.hasOwn(TABLE_AFTER, operation)) return { operation, collection: undefined, summary: operation };
  const after = TABLE_AFTER[operation] ?? null;
  if (operation === 'TRUNCATE' && scan.peekWord()?.toUpperCase() === 'TABLE') scan.word();
  if (after !== null && !scan.skipToKeyword(after)) return { operation, collection: undefined, summary: operation };
  if (operation === 'UPDATE' && scan.peekWord()?.toUpperCase() === 'ONLY') scan.word();
  // after FROM, a name followed by `(` is a function; after INTO, COPY or UPDATE, a column list
  const collection = scan.qualifiedName(after === 'FROM');
  // a statement over several tables names none (the conventions' rule for db.collection.name)
  if (collection === undefined || (operation === 'SELECT' && scan.joinsMore())) {
    return { operation, collection: undefined, summary: operation };
  }
  return { operation, collection, summary: `${operation} ${collection}` };
}

/** A cursor over SQL text that skips spaces and comments between tokens. */
class Scanner {
  #at = 0;

  constructor(private readonly text: string) {}

  #skipSpace(): void {
    SPACE_OR_COMMENT.lastIndex = this.#at;
    SPACE_OR_COMMENT.exec(this.text);
    this.#at = SPACE_OR_COMMENT.lastIndex;
  }

  /** The bare word at the cursor (consumed), or undefined. */
  word(): string | undefined {
    this.#skipSpace();
    WORD.lastIndex = this.#at;
    const match = WORD.exec(this.text);
    if (!match) return undefined;
    this.#at = WORD.lastIndex;
    return match[0];
  }

  /** The bare word at the cursor, not consumed. */
  peekWord(): string | undefined {
    const at = this.#at;
    const word = this.word();
    this.#at = at;
    return word;
  }

  /** One identifier, bare (folded to lower case, as the server does) or quoted. */
  #identifier(): string | undefined {
    this.#skipSpace();
    QUOTED.lastIndex = this.#at;
    const quoted = QUOTED.exec(this.text);
    if (quoted) {
      this.#at = QUOTED.lastIndex;
      return quoted[1]!.replaceAll('""', '"');
    }
    return this.word()?.toLowerCase();
  }

  /**
   * `table` or `schema.table` at the cursor, or undefined (a subquery, a parameter, and with
   * `callsAreFunctions` a function call).
   */
  qualifiedName(callsAreFunctions: boolean): string | undefined {
    let name = this.#identifier();
    if (name === undefined) return undefined;
    this.#skipSpace();
    if (this.text[this.#at] === '.') {
      this.#at++;
      const table = this.#identifier();
      if (table === undefined) return undefined;
      name = `${name}.${table}`;
    }
    this.#skipSpace();
    // a function call (`from generate_series(…)`) is no table
    return callsAreFunctions && this.text[this.#at] === '(' ? undefined : name;
  }

  /**
   * Moves past the first `keyword` outside parentheses and literals; false when there is none
   * (a `select 1`, say).
   */
  skipToKeyword(keyword: string): boolean {
    return this.#scanTopLevel((word) => word === keyword);
  }

  /** Whether the rest of a FROM clause names another table (a join or a comma list). */
  joinsMore(): boolean {
    return this.#scanTopLevel((word, comma) => comma || word === 'JOIN', ['WHERE', 'GROUP', 'ORDER', 'LIMIT']);
  }

  /**
   * Where the literal or quoted name opening at the cursor ends (a doubled quote is read as two
   * literals, which skips the same text), -1 when it never does, the cursor itself when `$` opens
   * no dollar quote. An E'' string's backslash escapes are honoured.
   */
  #literalEnd(quote: string): number {
    const text = this.text;
    const start = this.#at;
    if (quote === '$') {
      DOLLAR_TAG.lastIndex = start;
      const tag = DOLLAR_TAG.exec(text)?.[0];
      if (tag === undefined) return start;
      const end = text.indexOf(tag, start + tag.length);
      return end < 0 ? -1 : end + tag.length;
    }
    const escapes = quote === "'" && /[eE]/.test(text[start - 1] ?? '') && !/\w/.test(text[start - 2] ?? '');
    for (let i = start + 1; i < text.length; i++) {
      if (escapes && text[i] === '\\') i++;
      else if (text[i] === quote) return i + 1;
    }
    return -1;
  }

  #scanTopLevel(found: (word: string, comma: boolean) => boolean, stops: readonly string[] = []): boolean {
    const text = this.text;
    let depth = 0;
    while (this.#at < text.length) {
      this.#skipSpace();
      const c = text[this.#at];
      if (c === undefined) return false;
      if (c === "'" || c === '"' || c === '$') {
        const end = this.#literalEnd(c);
        if (end < 0) return false;
        if (end > this.#at) {
          this.#at = end;
          continue;
        }
      }
      if (c === '(') depth++;
      else if (c === ')') depth--;
      if (depth === 0 && c === ',' && found('', true)) return true;
      const word = this.word();
      if (word === undefined) {
        this.#at++;
        continue;
      }
      if (depth !== 0) continue;
      const upper = word.toUpperCase();
      if (stops.includes(upper)) return false;
      if (found(upper, false)) return true;
    }
    return false;
  }
}
