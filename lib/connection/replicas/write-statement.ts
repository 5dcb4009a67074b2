/**
 * Whether a statement may have written data, for read-your-writes: after a write, the reads of
 * the same async context go to the primary. Built queries are judged by their Kysely syntax tree,
 * raw SQL by its first keyword; anything unclear counts as a write (the safe side: a read sent to
 * the primary is never stale).
 */
import type { CompiledQuery } from 'kysely';

/** A node of Kysely's syntax tree, as far as this module looks into it. */
interface Node {
  readonly kind: string;
}

interface SelectNode extends Node {
  readonly kind: 'SelectQueryNode';
  readonly with?: { readonly expressions: readonly { readonly expression: Node }[] };
}

/** Row locks: `FOR UPDATE`, `FOR NO KEY UPDATE`, `FOR SHARE`, `FOR KEY SHARE`. */
const ROW_LOCK = /\bfor\s+(?:no\s+key\s+update|update|key\s+share|share)\b/i;

/** First keywords of raw statements that change no data (reads, transaction control, settings). */
const NO_DATA_CHANGE =
  /^\s*(?:select|with|show|values|table|begin|start\s+transaction|commit|end|rollback|abort|savepoint|release|set|reset)\b/i;

/** Keywords that make a raw `WITH …` statement a write (a data-modifying common table expression). */
const DATA_CHANGE = /\b(?:insert|update|delete|merge)\b/i;

function isSelect(node: Node): node is SelectNode {
  return node.kind === 'SelectQueryNode';
}

/** Whether a select's common table expressions (at any depth) insert, update, delete or merge. */
function writesInCte(node: SelectNode): boolean {
  for (const cte of node.with?.expressions ?? []) {
    const inner = cte.expression;
    if (!isSelect(inner) || writesInCte(inner)) return true;
  }
  return false;
}

/**
 * Whether running `query` may change data: true for INSERT, UPDATE, DELETE, MERGE, DDL, a SELECT
 * that locks rows (FOR UPDATE/SHARE) or has a data-modifying WITH, and raw SQL that does not start
 * with SELECT, WITH (without INSERT/UPDATE/DELETE/MERGE inside), SHOW, VALUES, TABLE, SET, RESET or
 * a transaction command. Not recognised: a SELECT of a function that writes (`select f()`) — run
 * such a call in a transaction, or read through `database.primary` afterwards.
 *
 * @example
 * isWriteStatement(db.selectFrom('users').selectAll().compile()); // false
 * isWriteStatement(db.selectFrom('users').selectAll().forUpdate().compile()); // true
 * isWriteStatement(CompiledQuery.raw('begin')); // false: transaction control writes nothing itself
 * @throws never.
 */
export function isWriteStatement(query: CompiledQuery): boolean {
  const node = query.query as Node;
  if (isSelect(node)) return writesInCte(node) || ROW_LOCK.test(query.sql);
  if (node.kind !== 'RawNode') return true;
  const text = query.sql;
  if (!NO_DATA_CHANGE.test(text)) return true;
  if (/^\s*with\b/i.test(text)) return DATA_CHANGE.test(text) || ROW_LOCK.test(text);
  return /^\s*select\b/i.test(text) && ROW_LOCK.test(text);
}
