/**
 * `npm run bench`: every benchmark in one run — the Repository against raw pg, every public path,
 * the tail under an open-loop load, findById against pgbench, memory after many query shapes, the
 * user store's bcrypt costs, the SSH tunnel against direct and `ssh -L`, reads over replicas, a
 * multi-host DATABASE_URL against one host, and what the OpenTelemetry reporting costs findById (off, API without an SDK, SDK registered).
 * A benchmark whose program is missing (sshd, pgbench, the PostgreSQL server binaries) says so
 * and is left out. The testing kit's suite (sandbox against truncation) comes last.
 * BENCH_ONLY=repository,paths,tail,limit,shapes,users,tunnel,replicas,failover,telemetry,testing-kit picks some.
 */
import { existsSync } from 'node:fs';
import { benchFailover } from './failover.js';
import { benchLimit } from './limit.js';
import { benchPaths } from './paths.js';
import { benchReplicas } from './replicas.js';
import { benchRepository } from './repository.js';
import { benchShapes } from './shapes.js';
import { benchTail } from './tail.js';
import { benchTelemetry } from './telemetry.js';
import { benchTestingKit } from './testing-kit.js';
import { benchTunnel } from './tunnel.js';
import { benchUsers } from './users.js';

const only = (
  process.env['BENCH_ONLY'] ?? 'repository,paths,tail,limit,shapes,users,tunnel,replicas,failover,telemetry,testing-kit'
).split(',');
const benches: [string, () => Promise<void>, string | undefined][] = [
  ['repository', benchRepository, undefined],
  ['paths', benchPaths, undefined],
  ['tail', benchTail, undefined],
  ['limit', benchLimit, undefined],
  ['shapes', benchShapes, undefined],
  ['users', benchUsers, undefined],
  [
    'tunnel',
    benchTunnel,
    existsSync('/usr/sbin/sshd') ? undefined : 'needs OpenSSH sshd (apt-get install openssh-server)',
  ],
  ['replicas', benchReplicas, undefined],
  ['failover', benchFailover, undefined],
  ['telemetry', benchTelemetry, undefined],
  ['testing-kit', benchTestingKit, undefined],
];
for (const [name, bench, missing] of benches) {
  if (!only.includes(name)) continue;
  if (missing) {
    console.log(`\n${name}: left out, it ${missing}`);
    continue;
  }
  await bench();
}
