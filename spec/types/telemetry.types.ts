/**
 * The structural description of @opentelemetry/api the package loads at run time
 * (lib/telemetry/opentelemetry-api.ts) fits the real API: compiled by `tsc --noEmit`, also on the
 * newest API version the peer range allows.
 */
import * as api from '@opentelemetry/api';
import type { OpenTelemetryApi } from '../../lib/telemetry/opentelemetry-api.js';
import type { TelemetryOptions } from '../../lib/index.js';

export const fits: OpenTelemetryApi = api;

export const options: TelemetryOptions = { enabled: true, clientSpans: 'auto', queryText: false, poolName: 'orders' };
// @ts-expect-error clientSpans is true, false or 'auto'
export const wrong: TelemetryOptions = { clientSpans: 'yes' };
