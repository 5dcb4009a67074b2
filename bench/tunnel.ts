/**
 * SSH tunnel benchmark: one command, one run.
 *
 *   npx tsx bench/tunnel.ts
 *
 * Three ways to reach the same PostgreSQL with the same pool size and 32 concurrent clients:
 * direct TCP, an OpenSSH `ssh -N -L` port forward, and our ssh2 stream factory (one channel per
 * pooled connection). Workloads: `SELECT 1`, a 100 KB result, and the time to open 10 fresh pool
 * connections (the SSH connection itself already up). Prints throughput and the ratios.
 *
 * The modes take turns in short rounds, each round starting with the next mode, and each ratio is
 * the median of the per-round ratios, so a neighbour's load that comes and goes weighs on every
 * mode alike.
 *
 * Needs sshd (a private one is started on a loopback port), ssh, and a PostgreSQL reachable at
 * BENCH_DATABASE_URL, TEST_DATABASE_URL, DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres.
 * BENCH_ROUNDS (default 9) rounds of BENCH_SECONDS (default 1) per workload and mode.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import pg from 'pg';
import { loadConfig } from '../lib/config.js';
import { SshTunnel } from '../lib/connection/ssh/ssh-tunnel.js';
import { silentLogger } from '../lib/logger.js';
import { freePort } from '../spec/support/free-port.js';
import { sshdMissingReason, sshEnv, startSshServer, type SshServer } from '../spec/support/ssh-server.js';
import { median, turnOrder } from './bench-support.js';

const POOL_SIZE = 10;
const CLIENTS = 32;
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 1);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 9);
const WARMUP_MS = 500;
const OPEN_ROUNDS = 9;

const WORKLOADS = {
  'SELECT 1': 'select 1',
  '100 KB': "select repeat('x', 102400) as payload",
} as const;
type Workload = keyof typeof WORKLOADS;
type Mode = 'direct' | 'ssh -L' | 'ours';

interface Target {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string | undefined;
}

function databaseUrl(): string {
  return (
    process.env['BENCH_DATABASE_URL'] ??
    process.env['TEST_DATABASE_URL'] ??
    process.env['DATABASE_URL'] ??
    'postgres://postgres@127.0.0.1:5432/postgres'
  );
}

/** CPU time the whole machine spent busy so far (all processes, all cores), in µs. */
function machineBusyMicros(): number {
  // /proc/stat's first line: user nice system idle iowait irq softirq steal …, in 1/100 s
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = fields;
  return (user + nice + system + irq + softirq) * 10_000;
}

/** One measured window: queries per second, and machine CPU per query (client, sshd, ssh, PostgreSQL). */
interface Throughput {
  readonly qps: number;
  readonly cpuMicros: number;
}

/** Loops `CLIENTS` callers over `pool.query(text)` for `ms`. */
async function throughput(pool: pg.Pool, text: string, ms: number): Promise<Throughput> {
  let done = 0;
  const until = performance.now() + ms;
  const started = performance.now();
  const busy = machineBusyMicros();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < until) {
        await pool.query(text);
        done += 1;
      }
    }),
  );
  return { qps: done / ((performance.now() - started) / 1000), cpuMicros: (machineBusyMicros() - busy) / done };
}

/** Median ms to open POOL_SIZE connections of a fresh pool, concurrently. */
async function openTime(makePool: () => pg.Pool): Promise<number> {
  const samples: number[] = [];
  for (let round = 0; round < OPEN_ROUNDS; round += 1) {
    const pool = makePool();
    const started = performance.now();
    const clients = await Promise.all(Array.from({ length: POOL_SIZE }, () => pool.connect()));
    samples.push(performance.now() - started);
    for (const client of clients) client.release();
    await pool.end();
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] ?? Number.NaN;
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function startPortForward(server: SshServer, target: Target): Promise<{ port: number; process: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    'ssh',
    [
      '-N',
      '-F',
      '/dev/null',
      '-o',
      'BatchMode=yes',
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      `UserKnownHostsFile=${server.knownHostsFile}`,
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'ExitOnForwardFailure=yes',
      '-i',
      server.userKey.path,
      '-p',
      String(server.port),
      '-L',
      `127.0.0.1:${port}:${target.host}:${target.port}`,
      `${server.user}@127.0.0.1`,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await waitForPort(port, 10_000);
  return { port, process: child };
}

function times(value: number): string {
  return `${value.toFixed(2)}×`;
}

/** Runs the tunnel benchmark (direct, ssh -L, ours) and prints its table. */
export async function benchTunnel(): Promise<void> {
  const missing = sshdMissingReason();
  if (missing) throw new Error(`cannot run the tunnel benchmark: ${missing}`);
  const url = databaseUrl();
  const server = await startSshServer();
  const config = loadConfig(sshEnv(server, url));
  const connection = config.connection;
  if (!connection || !config.ssh) throw new Error('the benchmark needs a postgres:// URL');
  const target: Target = {
    host: connection.host,
    port: connection.port,
    database: connection.database,
    user: connection.user,
    password: connection.password,
  };
  const tunnel = new SshTunnel(config.ssh, { logger: silentLogger });
  const forward = await startPortForward(server, target);

  const base = {
    database: target.database,
    user: target.user,
    password: target.password,
    max: POOL_SIZE,
  };
  const makers: Record<Mode, () => pg.Pool> = {
    direct: () => new pg.Pool({ ...base, host: target.host, port: target.port }),
    'ssh -L': () => new pg.Pool({ ...base, host: '127.0.0.1', port: forward.port }),
    ours: () =>
      new pg.Pool({
        ...base,
        host: target.host,
        port: target.port,
        stream: tunnel.streamFactory({ host: target.host, port: target.port }),
      }),
  };
  const modes = Object.keys(makers) as Mode[];
  type Measure = Workload | 'open 10';
  const measures: Measure[] = ['SELECT 1', '100 KB', 'open 10'];
  const samples = Object.fromEntries(
    modes.map((mode) => [mode, Object.fromEntries(measures.map((m) => [m, [] as number[]]))]),
  ) as Record<Mode, Record<Measure, number[]>>;
  const cpu = Object.fromEntries(
    modes.map((mode) => [mode, Object.fromEntries(Object.keys(WORKLOADS).map((w) => [w, [] as number[]]))]),
  ) as Record<Mode, Record<Workload, number[]>>;

  try {
    const pools = Object.fromEntries(modes.map((mode) => [mode, makers[mode]()])) as Record<Mode, pg.Pool>;
    for (const pool of Object.values(pools)) pool.on('error', () => undefined);
    process.stdout.write(
      `tunnel benchmark: pool ${POOL_SIZE}, ${CLIENTS} concurrent clients, ${ROUNDS} rounds of ${SECONDS} s per workload and mode\n` +
        `PostgreSQL at ${connection.redactedUrl}; OpenSSH sshd on 127.0.0.1:${server.port}\n\n`,
    );
    for (const [workload, text] of Object.entries(WORKLOADS) as [Workload, string][]) {
      for (const mode of modes) await throughput(pools[mode], text, WARMUP_MS);
      for (let round = 0; round < ROUNDS; round += 1) {
        for (const mode of turnOrder(modes, round)) {
          const { qps, cpuMicros } = await throughput(pools[mode], text, SECONDS * 1000);
          samples[mode][workload].push(qps);
          cpu[mode][workload].push(cpuMicros);
        }
      }
    }
    for (const pool of Object.values(pools)) await pool.end();
    for (const mode of modes) await openTime(makers[mode]); // warm-up
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const mode of turnOrder(modes, round)) samples[mode]['open 10'].push(await openTime(makers[mode]));
    }
  } finally {
    forward.process.kill('SIGTERM');
    await tunnel.close();
    await server.destroy();
  }

  const status = tunnel.status();
  /** Median over the rounds of mode's value divided by base's value in the same round. */
  const vs = (mode: Mode, base: Mode, measure: Measure): number =>
    median(samples[mode][measure].map((value, i) => value / (samples[base][measure][i] ?? Number.NaN)));
  const rows = modes.map((mode) =>
    [
      mode.padEnd(8),
      ...measures.map((measure) => {
        const value = median(samples[mode][measure]);
        if (measure === 'open 10')
          return `${value.toFixed(1).padStart(7)} ms  ${times(vs(mode, 'direct', measure)).padStart(6)}`;
        const micros = median(cpu[mode][measure]);
        return `${value.toFixed(0).padStart(7)} q/s ${times(vs(mode, 'direct', measure)).padStart(6)} ${micros.toFixed(0).padStart(5)} µs`;
      }),
    ].join(' | '),
  );
  const check = (ok: boolean): string => (ok ? 'met' : 'MISSED');
  const select1 = vs('ours', 'direct', 'SELECT 1');
  const big = vs('ours', 'direct', '100 KB');
  const open10 = vs('ours', 'direct', 'open 10');
  process.stdout.write(
    [
      `${'mode'.padEnd(8)} | ${'SELECT 1 (vs direct, CPU/q)'.padEnd(27)} | ${'100 KB (vs direct, CPU/q)'.padEnd(27)} | open 10 (vs direct)`,
      ...rows,
      '',
      `ours vs ssh -L: SELECT 1 ${times(vs('ours', 'ssh -L', 'SELECT 1'))}, 100 KB ${times(vs('ours', 'ssh -L', '100 KB'))}, ` +
        `open 10 ${times(vs('ours', 'ssh -L', 'open 10'))} (time: lower is better)`,
      `targets: SELECT 1 >= 0.75× direct: ${check(select1 >= 0.75)}; 100 KB >= 0.75× direct: ${check(big >= 0.75)}; ` +
        `open 10 <= 1.3× direct: ${check(open10 <= 1.3)}`,
      `per-round ours/direct, SELECT 1: ${samples.ours['SELECT 1'].map((v, i) => (v / (samples.direct['SELECT 1'][i] ?? 1)).toFixed(2)).join(' ')}; ` +
        `100 KB: ${samples.ours['100 KB'].map((v, i) => (v / (samples.direct['100 KB'][i] ?? 1)).toFixed(2)).join(' ')}`,
      "CPU/q: the whole machine's busy CPU time per query (client, sshd, ssh, PostgreSQL), median of the rounds",
      `our tunnel: ${status.handshakes} SSH handshake(s), ${status.channelsOpened} channels opened; load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
      '',
    ].join('\n'),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await benchTunnel();
