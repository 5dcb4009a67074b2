import { loadConfig, type DatabaseConfig } from '../../lib/index.js';
import { testDatabaseUrl } from './test-server.js';

/** A config for this run's database, with `env` on top (no .env file is read). */
export function testConfig(env: Record<string, string> = {}): DatabaseConfig {
  return loadConfig({ DATABASE_URL: testDatabaseUrl(), ...env }, { envFile: '/dev/null' });
}
