#!/usr/bin/env node
/**
 * The `kysely-repository` bin: runs the CLI with this process's arguments, environment, working
 * directory and streams, and exits with its code. Everything else is in run-cli.ts.
 */
import { runCli } from './run-cli.js';

process.exitCode = await runCli({
  argv: process.argv.slice(2),
  env: process.env,
  cwd: process.cwd(),
  stdout: process.stdout,
  stderr: process.stderr,
});
