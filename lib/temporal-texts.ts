/**
 * The text a timestamp arrived as, for the keyset cursor of a page: a JavaScript Date loses the
 * microseconds PostgreSQL keeps, so the cursor needs the server's own text of the page's last
 * sort value. Rather than have the server print every row's timestamp a second time (to_char),
 * a statement can carry a TemporalTexts: an engine that honours it (pg's) parses the statement's
 * timestamp fields through it, and it remembers the text behind the last two values of each
 * field. Every other engine ignores it, and the caller then asks the server for the text.
 * Engine-neutral, like prepared-query.ts.
 */
import type { CompiledQuery } from 'kysely';

/** pg's `types` option, as a query takes it. */
export interface FieldParsers {
  getTypeParser(oid: number, format?: string): (text: string) => unknown;
}

const TEXTS = Symbol('kysely-repository.temporalTexts');

/** timestamp and timestamptz. */
const TIMESTAMP_OIDS: ReadonlySet<number> = new Set([1114, 1184]);

/** The last two values one field's parser made, and the texts they came from. */
interface Field {
  older: unknown;
  olderText: string | undefined;
  newer: unknown;
  newerText: string | undefined;
}

/**
 * Remembers, per timestamp field of one statement's result, the last two values parsed and their
 * texts (a page's cursor row is its last or next-to-last row). One per statement run.
 */
export class TemporalTexts {
  readonly #fields: Field[] = [];
  #lost = false;

  /** `parsers` with every text timestamp field's parser wrapped to remember its texts. */
  over(parsers: FieldParsers): FieldParsers {
    return {
      getTypeParser: (oid, format) => {
        const parser = parsers.getTypeParser(oid, format);
        if (format === 'binary' || !TIMESTAMP_OIDS.has(oid)) return parser;
        const field: Field = { older: undefined, olderText: undefined, newer: undefined, newerText: undefined };
        this.#fields.push(field);
        return (text) => {
          const value = parser(text);
          // pg's parser makes null of text it cannot read (DateStyle German, say): a null in a row
          // then no longer tells a NULL in SQL
          if (value === null || value === undefined) this.#lost = true;
          field.older = field.newer;
          field.olderText = field.newerText;
          field.newer = value;
          field.newerText = text;
          return value;
        };
      },
    };
  }

  /**
   * Whether a null in a row may not be a NULL in SQL: a parser made null (or undefined) of a
   * text, or the engine parsed no timestamp field through this object (it ignores it: the
   * embedded engine), so nothing tells.
   */
  get lost(): boolean {
    return this.#lost || this.#fields.length === 0;
  }

  /**
   * The text `value` was parsed from, when it is one of the last two values of a timestamp field
   * of this statement; undefined when nothing was remembered (the engine ignored this object) or
   * when values equal to `value` came from different texts (a parser that makes equal values,
   * numbers say, from different texts). Never throws.
   */
  textOf(value: unknown): string | undefined {
    let found: string | undefined;
    for (const { older, olderText, newer, newerText } of this.#fields) {
      for (const text of [newer === value ? newerText : undefined, older === value ? olderText : undefined]) {
        if (text === undefined) continue;
        if (found !== undefined && found !== text) return undefined;
        found = text;
      }
    }
    return found;
  }
}

/** A compiled query that may carry a TemporalTexts. */
type CarryingQuery = CompiledQuery & { readonly [TEXTS]?: TemporalTexts };

/** `query`, carrying `texts` for an engine that parses its timestamp fields through them. */
export function withTemporalTexts<R>(query: CompiledQuery<R>, texts: TemporalTexts): CompiledQuery<R> {
  return Object.freeze({ ...query, [TEXTS]: texts });
}

/** The TemporalTexts `query` carries, if any. */
export function temporalTextsOf(query: CompiledQuery): TemporalTexts | undefined {
  return (query as CarryingQuery)[TEXTS];
}
