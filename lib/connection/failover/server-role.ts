/**
 * What a server is, as libpq's `target_session_attrs` asks it: in recovery (a standby) or not, and
 * whether its sessions are read-only. One statement on a new connection answers both.
 */
import type { TargetSessionAttrs } from '../../config.js';

/** A server's answer to {@link SERVER_ROLE_QUERY}. */
export interface ServerRole {
  /** `pg_is_in_recovery()`: a hot standby. */
  readonly standby: boolean;
  /** `transaction_read_only` of a new session (a standby, or `default_transaction_read_only = on`). */
  readonly readOnly: boolean;
}

/** One round trip; works through a pooler and on every supported server version. */
export const SERVER_ROLE_QUERY =
  "select pg_is_in_recovery() as standby, current_setting('transaction_read_only') = 'on' as read_only";

/**
 * The role from the row of {@link SERVER_ROLE_QUERY}.
 * @throws Error when the row is not of that shape.
 */
export function serverRole(row: { standby?: unknown; read_only?: unknown } | undefined): ServerRole {
  if (typeof row?.standby !== 'boolean' || typeof row.read_only !== 'boolean') {
    throw new Error('the server role query returned no role');
  }
  return { standby: row.standby, readOnly: row.read_only };
}

/**
 * Whether a server of `role` is one `attrs` accepts. `prefer-standby` accepts any server here:
 * the caller looks for a standby first (see HostSelector).
 * @example
 * acceptsRole('read-write', { standby: false, readOnly: false }); // true
 * @throws never.
 */
export function acceptsRole(attrs: TargetSessionAttrs, role: ServerRole): boolean {
  switch (attrs) {
    case 'any':
    case 'prefer-standby':
      return true;
    case 'read-write':
      return !role.readOnly;
    case 'read-only':
      return role.readOnly;
    case 'primary':
      return !role.standby;
    case 'standby':
      return role.standby;
  }
}

/**
 * Whether `attrs` asks for the primary (`read-write` or `primary`): then a 25006 (read-only
 * transaction) on a write may mean the server became a standby, and the other hosts of the list,
 * the standbys, can take reads.
 * @throws never.
 */
export function wantsPrimary(attrs: TargetSessionAttrs): boolean {
  return attrs === 'read-write' || attrs === 'primary';
}
