/**
 * Compile once, run many times: a query shape is built and compiled by Kysely a single time with
 * placeholder arguments; each call only puts its own arguments into the compiled parameter list.
 * The SQL text of a shape never changes, so it can run as a named prepared statement.
 */
import type { CompiledQuery, Compilable, RootOperationNode } from 'kysely';
import { preparedQuery } from '../prepared-query.js';
import { RecentlyUsed } from '../recently-used.js';

/**
 * A placeholder for an argument while a shape is built. Recognised by identity, never by its
 * content, so no value from data can be taken for one.
 */
class ArgPlaceholder {
  constructor(readonly index: number) {
    Object.freeze(this);
  }
}

const placeholders: ArgPlaceholder[] = [];

/** A compiled query and, per parameter, which argument fills it (-1: a constant of the shape). */
export interface QueryShape {
  readonly query: CompiledQuery;
  readonly slots: readonly number[];
}

/** A placeholder for argument `index` while a shape is built. */
export function arg(index: number): unknown {
  return (placeholders[index] ??= new ArgPlaceholder(index));
}

/**
 * Builds and compiles a shape. `build` receives placeholders (see {@link arg}) in place of the
 * arguments; every placeholder must end up as a bound parameter.
 * @throws Error when a placeholder did not become a parameter (a bug in `build`).
 */
export function compileShape(build: () => Compilable, arity: number, prepare: boolean): QueryShape {
  const compiled = build().compile();
  const slots = slotsOf(compiled.parameters);
  for (let i = 0; i < arity; i++) {
    if (!slots.includes(i)) throw new Error(`query shape lost argument ${i}: ${compiled.sql}`);
  }
  const kept = { ...compiled, query: outline(compiled.query) };
  return { query: prepare ? preparedQuery(kept) : kept, slots };
}

/**
 * What a cached shape keeps of Kysely's syntax tree: only the statement's kind, which is all that
 * is read of it once compiled (whether it may write, see connection/replicas/write-statement.ts);
 * the whole tree, about 10 KB for a select of 40 columns, only for a select with a WITH clause.
 */
function outline(node: RootOperationNode): RootOperationNode {
  if (node.kind === 'SelectQueryNode' && node.with !== undefined) return node;
  // a node of the same kind without its parts: nothing that reads these shapes looks further
  return Object.freeze({ kind: node.kind }) as RootOperationNode;
}

/** For each parameter, the argument whose placeholder it is (-1: a constant). */
function slotsOf(parameters: readonly unknown[]): number[] {
  return parameters.map((p) => (p instanceof ArgPlaceholder && placeholders[p.index] === p ? p.index : -1));
}

/** A query compiled with placeholders (and not cached), with `args` in their place. */
export function bindCompiled<R>(compiled: CompiledQuery<R>, args: readonly unknown[]): CompiledQuery<R> {
  return args.length === 0 ? compiled : bindShape<R>({ query: compiled, slots: slotsOf(compiled.parameters) }, args);
}

/** The shape's compiled query with `args` in place of its placeholders. */
export function bindShape<R>(shape: QueryShape, args: readonly unknown[]): CompiledQuery<R> {
  const constants = shape.query.parameters;
  const parameters = shape.slots.map((slot, i) => (slot < 0 ? constants[i] : args[slot]));
  return { ...shape.query, parameters };
}

/** Compiled shapes, per owner (a table's description) and key; past `max` per owner the least recently used go first. */
export class ShapeCache {
  readonly #byOwner = new WeakMap<object, RecentlyUsed<string, QueryShape>>();

  /** @param max shapes kept per owner. */
  constructor(readonly max: number) {}

  /** The shape for `key`, compiled by `compile` the first time (or again after it was evicted). */
  get(owner: object, key: string, compile: () => QueryShape): QueryShape {
    let shapes = this.#byOwner.get(owner);
    if (!shapes) this.#byOwner.set(owner, (shapes = new RecentlyUsed(this.max)));
    let shape = shapes.get(key);
    if (!shape) {
      shape = compile();
      shapes.set(key, shape);
    }
    return shape;
  }
}
