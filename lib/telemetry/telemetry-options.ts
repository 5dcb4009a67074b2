/**
 * The `telemetry` option of createDatabase: what the Database reports to OpenTelemetry.
 */
import { ValidationError } from '../errors.js';

/**
 * What a Database reports to OpenTelemetry. Nothing is reported unless the application has
 * @opentelemetry/api installed and an SDK registered; then spans and metrics follow the database
 * semantic conventions (README, "OpenTelemetry").
 */
export interface TelemetryOptions {
  /** false: no span and no metric from this Database. (Default: true) */
  readonly enabled?: boolean;
  /**
   * Spans of the client's own work: one per statement, one per connection checkout. `'auto'`
   * turns them off while @opentelemetry/instrumentation-pg wraps pg's `Client.prototype.query`,
   * which then reports the statements itself (each would otherwise be reported twice); the
   * package logs once at info when it does. Metrics, transaction and repository spans stay on.
   * (Default: 'auto')
   */
  readonly clientSpans?: boolean | 'auto';
  /**
   * `db.query.text` on statement spans: the parameterized text (values are never included;
   * configured secrets are masked as in log lines). false leaves it out. (Default: true)
   */
  readonly queryText?: boolean;
  /**
   * `db.client.connection.pool.name` of the primary's pool in metrics and checkout spans: set it
   * when two Databases of one application reach the same server and database, whose pools would
   * otherwise report under one name. (Default: `host:port/database`)
   */
  readonly poolName?: string;
}

/**
 * `telemetry` as given, each member of the form it must have.
 * @throws ValidationError naming the member (`telemetry.clientSpans`, …) and what is allowed.
 */
export function checkTelemetryOptions(given: unknown): TelemetryOptions {
  if (given === undefined) return {};
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new ValidationError(
      'telemetry',
      'type',
      'telemetry must be an object ({ enabled, clientSpans, queryText, poolName })',
    );
  }
  const { enabled, clientSpans, queryText, poolName } = given as Record<string, unknown>;
  const bad = (field: string, allowed: string): never => {
    throw new ValidationError(`telemetry.${field}`, 'type', `telemetry.${field} must be ${allowed}`);
  };
  if (enabled !== undefined && typeof enabled !== 'boolean') bad('enabled', 'true or false');
  if (clientSpans !== undefined && typeof clientSpans !== 'boolean' && clientSpans !== 'auto') {
    bad('clientSpans', "true, false or 'auto'");
  }
  if (queryText !== undefined && typeof queryText !== 'boolean') bad('queryText', 'true or false');
  if (poolName !== undefined && (typeof poolName !== 'string' || !/^[\x20-\x7e]{1,200}$/.test(poolName))) {
    bad('poolName', 'a string of 1 to 200 printable ASCII characters');
  }
  return {
    ...(poolName === undefined ? {} : { poolName }),
    ...(enabled === undefined ? {} : { enabled }),
    ...(clientSpans === undefined ? {} : { clientSpans }),
    ...(queryText === undefined ? {} : { queryText }),
  } as TelemetryOptions;
}
