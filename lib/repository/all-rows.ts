/**
 * The explicit "every row" filter: `updateMany(allRows, patch)`. A where object never means every
 * row (an empty one, or one whose values are all `undefined`, is a ValidationError), and nothing a
 * request body parses into (JSON) can be this symbol.
 */
export const allRows: unique symbol = Symbol('kysely-repository.allRows');
/** The type of {@link allRows}. */
export type AllRows = typeof allRows;
