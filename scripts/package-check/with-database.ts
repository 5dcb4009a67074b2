/**
 * Runs a command with DATABASE_URL set to a database made for it, and drops the database when the
 * command ends (also when it fails or the run is interrupted). The server is the spec harness's:
 * TEST_DATABASE_URL (else DATABASE_URL), else postgres://postgres@127.0.0.1:5432, else a throwaway
 * cluster started from the installed server binaries and stopped afterwards.
 *
 *   tsx scripts/package-check/with-database.ts <command> [arguments...]
 */
import { spawn } from 'node:child_process';
import {
  setUpTestServer,
  tearDownTestServer,
  tearDownTestServerSync,
  testDatabaseUrl,
} from '../../spec/support/test-server.js';

async function main(): Promise<number> {
  const [command, ...args] = process.argv.slice(2);
  if (!command) throw new Error('usage: with-database.ts <command> [arguments...]');
  if (!process.env['TEST_DATABASE_URL'] && process.env['DATABASE_URL']) {
    process.env['TEST_DATABASE_URL'] = process.env['DATABASE_URL'];
  }
  process.once('exit', tearDownTestServerSync);
  const server = await setUpTestServer();
  try {
    process.stdout.write(`package check: a database of its own on PostgreSQL ${server.version} (${server.source})\n`);
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: testDatabaseUrl() };
    delete env['TEST_DATABASE_URL'];
    const child = spawn(command, args, { stdio: 'inherit', env });
    const forward = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    return await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
  } finally {
    await tearDownTestServer();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    // one line: the harness's messages name no password
    process.stderr.write(`package check: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
