/**
 * What an operation did, in a form both sides can be compared in: its value normalised (Dates by
 * their time, numbers with -0/NaN kept apart, objects with sorted keys, the soft-delete timestamp
 * as set / not set), or its error reduced to a kind and SQLSTATE.
 */
import { ConnectionError, DatabaseError, OptimisticLockError, ValidationError } from '../../../lib/index.js';
import { showValue } from './values.js';

/**
 * Thrown by the reference where the package documents a refusal (a ValidationError). `rule`,
 * when given, is the field and rule the package's error must name too (see COMPARED_FIELDS).
 */
export class ReferenceValidationError extends Error {
  override name = 'ReferenceValidationError';
  constructor(
    message: string,
    readonly rule?: { readonly field: string; readonly rule: string },
  ) {
    super(message);
  }
}

/**
 * ValidationErrors whose field and rule are compared too (others by kind only): a key method on
 * a table without a key must fail for that reason, not for its arguments.
 */
const COMPARED_FIELDS: readonly string[] = ['primaryKey'];

/** Thrown by the reference where the package documents an OptimisticLockError. */
export class ReferenceOptimisticLockError extends Error {
  override name = 'ReferenceOptimisticLockError';
}

/** Thrown by the reference where the package documents a DatabaseError without a SQLSTATE. */
export class ReferenceDatabaseError extends Error {
  override name = 'ReferenceDatabaseError';
}

/** Thrown by the operations themselves to roll a transaction (or savepoint) back. */
export class RollBack extends Error {
  override name = 'RollBack';
  constructor() {
    super('roll back');
  }
}

export type ErrorKind =
  'validation' | 'optimistic-lock' | 'connection' | 'sqlstate' | 'database-error' | 'rolled-back' | 'other';

export interface ErrorInfo {
  readonly kind: ErrorKind;
  /** The SQLSTATE, for kind `sqlstate`. */
  readonly code?: string;
  /** `field rule` of a validation error whose field is compared (see COMPARED_FIELDS). */
  readonly field?: string;
  readonly message: string;
}

export type Outcome = { readonly ok: true; readonly value: Normal } | { readonly ok: false; readonly error: ErrorInfo };

/** A JSON value: what normalised results are. */
export type Normal = null | boolean | number | string | Normal[] | { [key: string]: Normal };

const SQLSTATE = /^[0-9A-Z]{5}$/;

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const code = error.code;
  return typeof code === 'string' && SQLSTATE.test(code) ? code : undefined;
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** Reduces an error of either side to what is compared. */
export function errorInfo(error: unknown): ErrorInfo {
  const message = messageOf(error);
  if (error instanceof ValidationError && COMPARED_FIELDS.includes(error.field)) {
    return { kind: 'validation', message, field: `${error.field} ${error.rule}` };
  }
  if (error instanceof ReferenceValidationError && error.rule && COMPARED_FIELDS.includes(error.rule.field)) {
    return { kind: 'validation', message, field: `${error.rule.field} ${error.rule.rule}` };
  }
  if (error instanceof ValidationError || error instanceof ReferenceValidationError)
    return { kind: 'validation', message };
  if (error instanceof OptimisticLockError || error instanceof ReferenceOptimisticLockError) {
    return { kind: 'optimistic-lock', message };
  }
  if (error instanceof ConnectionError)
    return { kind: 'connection', message, ...(codeOf(error) ? { code: codeOf(error) } : {}) };
  if (error instanceof RollBack) return { kind: 'rolled-back', message };
  if (error instanceof ReferenceDatabaseError) return { kind: 'database-error', message };
  const code = codeOf(error);
  if (code !== undefined) return { kind: 'sqlstate', code, message };
  if (error instanceof DatabaseError) return { kind: 'database-error', message };
  return { kind: 'other', message: error instanceof Error && error.stack ? error.stack : message };
}

export function failure(error: unknown): Outcome {
  return { ok: false, error: errorInfo(error) };
}

export function success(value: Normal): Outcome {
  return { ok: true, value };
}

/** How two outcomes compare: equal, or what differs. */
export function sameOutcome(a: Outcome, b: Outcome): boolean {
  return JSON.stringify(comparable(a)) === JSON.stringify(comparable(b));
}

/**
 * The part of an outcome that is compared: errors by kind and SQLSTATE class (and the field of
 * some validation errors), not by message.
 */
function comparable(outcome: Outcome): Normal {
  if (outcome.ok) return { ok: true, value: stripErrors(outcome.value) };
  return {
    ok: false,
    kind: outcome.error.kind,
    class: outcome.error.code?.slice(0, 2) ?? null,
    field: outcome.error.field ?? null,
  };
}

/** Nested outcomes (transactions, parallel reads) carry error objects: compare them the same way. */
function stripErrors(value: Normal): Normal {
  if (Array.isArray(value)) return value.map(stripErrors);
  if (value !== null && typeof value === 'object') {
    if ('error' in value && 'kind' in (value['error'] as object)) {
      const error = value['error'] as { kind: Normal; code?: Normal; field?: Normal };
      return {
        error: {
          kind: error.kind,
          class: typeof error.code === 'string' ? error.code.slice(0, 2) : null,
          field: error.field ?? null,
        },
      };
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, stripErrors(v)]));
  }
  return value;
}

/** An outcome nested in another's value (the steps of a transaction). */
export function nested(outcome: Outcome): Normal {
  return outcome.ok
    ? { value: outcome.value }
    : {
        error: {
          kind: outcome.error.kind,
          message: outcome.error.message.split('\n')[0]!,
          ...(outcome.error.code ? { code: outcome.error.code } : {}),
          ...(outcome.error.field ? { field: outcome.error.field } : {}),
        },
      };
}

// ---- normalising values ---------------------------------------------------------------------

/** A value as compared: Dates by time, numbers tagged (so -0 and NaN survive JSON), bigints as text. */
export function normalValue(value: unknown): Normal {
  if (value === null) return null;
  if (value === undefined) return '<undefined>';
  if (value instanceof Date) {
    const time = value.getTime();
    return Number.isNaN(time) ? 'Date(Invalid)' : `Date(${value.toISOString()})`;
  }
  if (typeof value === 'number') return `number:${Object.is(value, -0) ? '-0' : String(value)}`;
  if (typeof value === 'bigint') return `bigint:${value}`;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map(normalValue);
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(record)
        .sort()
        .map((k) => [k, normalValue(record[k])]),
    );
  }
  return `<${typeof value}>`;
}

/** A row as compared: the soft-delete timestamp (now(), so different on each side) as set / not set. */
export function normalRow(row: unknown, volatileColumns: readonly string[]): Normal {
  if (row === undefined) return '<no row>';
  if (row === null || typeof row !== 'object') return normalValue(row);
  const record = row as Record<string, unknown>;
  return Object.fromEntries(
    Object.keys(record)
      .sort()
      .map((k) => [k, volatileColumns.includes(k) ? (record[k] === null ? null : '<set>') : normalValue(record[k])]),
  );
}

export function normalRows(rows: unknown, volatileColumns: readonly string[]): Normal {
  if (!Array.isArray(rows)) return `<not an array: ${showValue(rows)}>`;
  return rows.map((r) => normalRow(r, volatileColumns));
}

// ---- showing differences --------------------------------------------------------------------

const MAX_SHOWN = 1800;

function clip(text: string, max = MAX_SHOWN): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** The first place two normal values differ, as a path and the two values there. */
export function firstDifference(a: Normal, b: Normal, path = ''): { path: string; a: Normal; b: Normal } | undefined {
  if (JSON.stringify(a) === JSON.stringify(b)) return undefined;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (i >= a.length || i >= b.length) {
        return {
          path: `${path}[${i}] (lengths ${a.length} and ${b.length})`,
          a: i < a.length ? a[i]! : '<absent>',
          b: i < b.length ? b[i]! : '<absent>',
        };
      }
      const inner = firstDifference(a[i]!, b[i]!, `${path}[${i}]`);
      if (inner) return inner;
    }
  }
  if (
    a !== null &&
    b !== null &&
    typeof a === 'object' &&
    typeof b === 'object' &&
    !Array.isArray(a) &&
    !Array.isArray(b)
  ) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const key of keys) {
      if (!(key in a) || !(key in b)) {
        return { path: `${path}.${key}`, a: key in a ? a[key]! : '<absent>', b: key in b ? b[key]! : '<absent>' };
      }
      const inner = firstDifference(a[key]!, b[key]!, `${path}.${key}`);
      if (inner) return inner;
    }
  }
  return { path: path || '(the whole value)', a, b };
}

export function showOutcome(outcome: Outcome): string {
  if (!outcome.ok) {
    const code =
      (outcome.error.code ? ` [SQLSTATE ${outcome.error.code}]` : '') +
      (outcome.error.field ? ` [${outcome.error.field}]` : '');
    return `threw ${outcome.error.kind}${code}: ${clip(outcome.error.message, 600)}`;
  }
  return `returned ${clip(JSON.stringify(outcome.value))}`;
}

/** Both outcomes and where they part, for a failure message. */
export function explainDifference(pkg: Outcome, ref: Outcome): string {
  const lines = [`  package:   ${showOutcome(pkg)}`, `  reference: ${showOutcome(ref)}`];
  if (pkg.ok && ref.ok) {
    const diff = firstDifference(pkg.value, ref.value);
    if (diff) {
      lines.push(`  first difference at ${diff.path}:`);
      lines.push(`    package:   ${clip(JSON.stringify(diff.a), 600)}`);
      lines.push(`    reference: ${clip(JSON.stringify(diff.b), 600)}`);
    }
  }
  return lines.join('\n');
}
