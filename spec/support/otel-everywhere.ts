/**
 * Mocha root hooks that register the OpenTelemetry SDK for a whole run (`--require` this file
 * beside the usual hooks): the package's specs then run with every span and metric recorded, so
 * reporting cannot change a result, a transaction's outcome or an error. At the end, every span
 * is checked to have ended with a name, and the count is printed.
 */
import { installOtel, type InstalledOtel } from './otel.js';

let otel: InstalledOtel | undefined;

export const mochaHooks = {
  beforeAll(): void {
    otel = installOtel();
  },
  async afterAll(): Promise<void> {
    if (!otel) return;
    const spans = otel.spans();
    const points = await otel.collect();
    await otel.uninstall();
    const nameless = spans.filter((span) => span.name === '' || !span.ended);
    process.stdout.write(
      `  OpenTelemetry SDK registered for the run: ${spans.length} spans, ${points.length} metric points\n`,
    );
    if (nameless.length > 0) throw new Error(`${nameless.length} spans without a name or not ended`);
  },
};
