/**
 * A pg_auto_failover formation for failover specs: a monitor and two data nodes, each a
 * `pg_autoctl run` we spawn (detached, its own process group) as the server user (`postgres` when
 * we are root), on free loopback ports, with every file under one temp root: data directories,
 * pg_autoctl's configuration, state and pid files (XDG_CONFIG_HOME, XDG_DATA_HOME,
 * XDG_RUNTIME_DIR) and the servers' Unix sockets (PG_REGRESS_SOCK_DIR, PGHOST).
 *
 * pg_auto_failover manages replication itself: the data nodes replicate synchronously
 * (number_sync_standbys 0, replication quorum on: synchronous_standby_names names the secondary
 * while it is healthy, and is emptied when the primary goes to wait_primary). We change only how
 * fast it notices a lost node (see MONITOR_SETTINGS and KEEPER_SETTINGS) and the servers'
 * shared_buffers (pg_autoctl sizes it to a quarter of the machine's memory).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { inspect } from 'node:util';
import pg from 'pg';
import { freePort } from './free-port.js';
import { findServerBinaries, serverUser } from './postgres-cluster.js';
import { isLive, isZombie, killTrees, processTrees, signal } from './process-tree.js';
import { releaseSharedMemory, sharedMemoryOf } from './shared-memory.js';

/** Where the `pg_autoctl` binary is (PATH, /usr/bin, PostgreSQL's bin directories), or undefined. */
export function findPgAutoctl(): string | undefined {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter(Boolean);
  dirs.push('/usr/bin', '/usr/local/bin');
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    dirs.push(...versions.map((v) => join(debianRoot, v, 'bin')));
  }
  return dirs.map((dir) => join(dir, 'pg_autoctl')).find((file) => existsSync(file));
}

/**
 * Why a formation cannot be started here (for a spec's skip message), or undefined when it can:
 * pg_autoctl, the server binaries, and the pgautofailover extension of that server version.
 */
export function autoFailoverUnavailable(): string | undefined {
  if (!findPgAutoctl()) return 'pg_autoctl is not installed (apt-get install pg-auto-failover-cli)';
  const binDir = findServerBinaries();
  if (!binDir) return 'the PostgreSQL server binaries (initdb, pg_ctl) are not installed';
  const pgConfig = join(binDir, 'pg_config');
  if (existsSync(pgConfig)) {
    const shareDir = spawnSync(pgConfig, ['--sharedir'], { encoding: 'utf8', timeout: 10_000 }).stdout.trim();
    if (shareDir && !existsSync(join(shareDir, 'extension', 'pgautofailover.control'))) {
      return `the pgautofailover extension is not installed for the server in ${binDir} (apt-get install postgresql-<version>-auto-failover)`;
    }
  }
  return undefined;
}

/** A data node of the formation. */
export interface AutoFailoverNode {
  /** pg_auto_failover's node name (`node1`, `node2`). */
  readonly name: string;
  readonly port: number;
  readonly pgdata: string;
}

/** One row of the monitor's pgautofailover.node table. */
export interface NodeState {
  readonly name: string;
  readonly port: number;
  /** The state the node's keeper last reported. */
  readonly reportedState: string;
  /** The state the monitor assigned it. */
  readonly goalState: string;
  /** The monitor's health check: 1 good, 0 bad, -1 unknown. */
  readonly health: number;
  /** Whether the keeper last reported its PostgreSQL as running. */
  readonly pgIsRunning: boolean;
}

export interface AutoFailoverFormation {
  /** The two data nodes, in the order they joined (node1 starts as the primary). */
  readonly nodes: readonly AutoFailoverNode[];
  readonly monitor: { readonly port: number; readonly pgdata: string };
  /** The temp root everything lives under. */
  readonly root: string;
  /** The pgautofailover.* settings of the monitor, as pg_settings shows them after our changes. */
  readonly monitorSettings: Readonly<Record<string, string>>;
  /**
   * `postgres://postgres@127.0.0.1:p1,127.0.0.1:p2/<database>` plus `?` query if given: the hosts
   * of `pg_autoctl show uri --formation default` (checked when the formation started).
   */
  multiHostUrl(database?: string, query?: string): string;
  /** `postgres://postgres@127.0.0.1:<port>/<database>` of one data node. */
  url(node: { port: number }, database?: string): string;
  /** The monitor's view of the data nodes (pgautofailover.node), by node id. */
  states(): Promise<NodeState[]>;
  /**
   * The node the monitor has as primary: assigned and reporting a primary state (single,
   * wait_primary, primary). @throws when no node (or more than one) is.
   */
  primary(): Promise<AutoFailoverNode>;
  /**
   * Polls the monitor (every 25 ms) until `check` holds; resolves to performance.now() at the
   * first poll that saw it. @throws after `timeoutMs`, with the last states and the logs' tails.
   */
  waitForState(what: string, check: (states: NodeState[]) => boolean, timeoutMs?: number): Promise<number>;
  /**
   * Until one node is primary and the other secondary, both as assigned, healthy and running
   * (the primary then replicates synchronously again).
   */
  waitUntilStable(timeoutMs?: number): Promise<void>;
  /**
   * `pg_autoctl perform failover` (which returns once the failover is complete on the monitor);
   * resolves to performance.now() when the command started.
   */
  performFailover(): Promise<number>;
  /**
   * SIGKILL the primary's keeper (`pg_autoctl run` and its services) and its PostgreSQL server,
   * every process of both, like a machine loss; resolves once none is left. `stopping` is just
   * before the first signal, `stopped` when the last process is gone.
   */
  killPrimary(): Promise<{ node: AutoFailoverNode; stopping: number; stopped: number }>;
  /**
   * Starts a killed node's keeper again (it rejoins as a secondary: pg_rewind or pg_basebackup);
   * resolves once it has reported to the monitor.
   */
  restart(node: AutoFailoverNode): Promise<void>;
  /** Stops every keeper (SIGTERM, then SIGKILL of what is left) and removes the root. Safe twice. */
  destroy(): Promise<void>;
}

/**
 * Monitor settings (ALTER SYSTEM + reload; all PGC_SIGHUP): how fast a lost primary is noticed
 * and replaced. Defaults: a health check every 5 s, 5 s connect timeout, 2 retries 2 s apart; a
 * node is unhealthy once those fail and its keeper has not reported for 20 s; a primary that does
 * not confirm its demotion is given 30 s; no failover in the first 10 s after the monitor starts.
 */
const MONITOR_SETTINGS: Record<string, number> = {
  'pgautofailover.health_check_period': 1_000,
  'pgautofailover.health_check_timeout': 1_000,
  'pgautofailover.health_check_max_retries': 1,
  'pgautofailover.health_check_retry_delay': 500,
  // keepers report every second; 3 s without a report (and a failed health check) is a lost node
  'pgautofailover.node_considered_unhealthy_timeout': 3_000,
  // longer than the keepers' network_partition_timeout: a primary cut off from the monitor and
  // its standby stops itself before the standby is promoted
  'pgautofailover.primary_demote_timeout': 6_000,
  'pgautofailover.startup_grace_period': 1_000,
};

/** Keeper settings (pg_autoctl config set, before its first run). Default network_partition_timeout: 20 (s). */
const KEEPER_SETTINGS: Record<string, string> = {
  'timeout.network_partition_timeout': '5',
};

/** Appended to every server's postgresql.auto.conf before its first run (pg_autoctl's own sizing: 1/4 of RAM). */
const SERVER_SETTINGS = ["shared_buffers = '128MB'"];

/** Writable primary states of a node (pgautofailover.replication_state). */
const PRIMARY_STATES = new Set(['single', 'wait_primary', 'primary', 'join_primary']);

const COMMAND_TIMEOUT_MS = 120_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const message = (error: unknown): string => (error instanceof Error ? error.message : inspect(error));

/** The postmaster pid in `pgdata`'s postmaster.pid, or undefined. */
function postmasterPid(pgdata: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(pgdata, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The pid of the postmaster serving `pgdata`, when it is alive: postmaster.pid's pid, checked to
 * be a `postgres -D <pgdata>` (a stale file's pid may belong to another process by now).
 */
function livePostmaster(pgdata: string): number | undefined {
  const pid = postmasterPid(pgdata);
  if (pid === undefined || !isLive(pid)) return undefined;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const at = argv.indexOf('-D');
    return at >= 0 && argv[at + 1] === pgdata ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The last `chars` characters of a file, or a note that it is missing. */
function tail(file: string, chars: number): string {
  if (!existsSync(file)) return '(missing)';
  const text = readFileSync(file, 'utf8');
  return text.length > chars ? `…${text.slice(-chars)}` : text;
}

/** The newest server log (logging_collector writes to <pgdata>/log). */
function serverLog(pgdata: string): string | undefined {
  const dir = join(pgdata, 'log');
  if (!existsSync(dir)) return undefined;
  const newest = readdirSync(dir)
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs)
    .pop();
  return newest;
}

/** A keeper or the monitor: its name, port, data directory, log file and `pg_autoctl run` process. */
interface Member {
  readonly name: string;
  readonly port: number;
  readonly pgdata: string;
  readonly log: string;
  run?: ChildProcess;
  /** Resolves when the current `run` process has exited. */
  exited?: Promise<void>;
}

/**
 * Creates the monitor and two data nodes and waits until they are stable (node1 primary, node2
 * its synchronous secondary).
 * @throws Error (with the tails of every member's logs) when a step fails or times out.
 */
export async function startAutoFailoverFormation(): Promise<AutoFailoverFormation> {
  const pgAutoctl = findPgAutoctl();
  const binDir = findServerBinaries();
  if (!pgAutoctl) throw new Error('pg_autoctl is not installed');
  if (!binDir) throw new Error('PostgreSQL server binaries (initdb, pg_ctl) are not installed');
  const pgCtl = join(binDir, 'pg_ctl');
  const user = serverUser();

  const root = mkdtempSync(join(tmpdir(), 'kr-paf-'));
  const dirs = {
    config: join(root, 'config'),
    data: join(root, 'share'),
    run: join(root, 'run'),
    sock: join(root, 'sock'),
  };
  for (const dir of [root, ...Object.values(dirs)]) {
    mkdirSync(dir, { recursive: true });
    if (user) chownSync(dir, user.uid, user.gid);
  }
  const env: NodeJS.ProcessEnv = {
    PATH: [binDir, '/usr/bin', '/bin'].join(delimiter),
    HOME: root,
    LANG: 'C.UTF-8',
    XDG_CONFIG_HOME: dirs.config,
    XDG_DATA_HOME: dirs.data,
    XDG_RUNTIME_DIR: dirs.run,
    // the servers' Unix sockets in our root (pg_autoctl passes `-k` to postgres), and where the
    // keepers look for them
    PG_REGRESS_SOCK_DIR: dirs.sock,
    PGHOST: dirs.sock,
  };
  const ids = user ? { uid: user.uid, gid: user.gid } : {};

  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freePort());
  const [monitorPort, port1, port2] = [...ports] as [number, number, number];
  const member = (name: string, port: number): Member => ({
    name,
    port,
    pgdata: join(root, name),
    log: join(root, `${name}.log`),
  });
  const monitor = member('monitor', monitorPort);
  const members = [member('node1', port1), member('node2', port2)];
  const all = [monitor, ...members];
  const nodes: AutoFailoverNode[] = members.map(({ name, port, pgdata }) => ({ name, port, pgdata }));
  const monitorUrl = `postgres://postgres@127.0.0.1:${monitorPort}/pg_auto_failover`;

  const logTails = (): string =>
    all
      .map((m) => {
        const server = serverLog(m.pgdata);
        return (
          `\n--- tail of ${m.name}.log (pg_autoctl) ---\n${tail(m.log, 2500)}` +
          (server ? `\n--- tail of ${m.name}'s server log ---\n${tail(server, 1200)}` : '')
        );
      })
      .join('');
  const failure = (what: string, cause?: unknown): Error =>
    new Error(`${what}${cause === undefined ? '' : `: ${message(cause)}`}${logTails()}`, { cause });

  /** Runs a pg_autoctl command to completion as the server user; its output goes to `logOf`'s log (or is returned). */
  const autoctl = (args: string[], options: { logOf?: Member; timeoutMs?: number } = {}): Promise<string> =>
    new Promise((resolve, reject) => {
      const fd = options.logOf ? openSync(options.logOf.log, 'a') : undefined;
      const child = spawn(pgAutoctl, args, {
        ...ids,
        env,
        cwd: root,
        stdio: ['ignore', fd ?? 'pipe', fd ?? 'pipe'],
      });
      if (fd !== undefined) closeSync(fd);
      let out = '';
      let err = '';
      child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
      const timeoutMs = options.timeoutMs ?? COMMAND_TIMEOUT_MS;
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        if (code === 0) return resolve(out);
        const how = sig ? `was killed (${sig}; timeout ${timeoutMs} ms)` : `exited with ${code}`;
        reject(new Error(`pg_autoctl ${args.join(' ')} ${how}${err ? `\n${err.slice(-3000)}` : ''}`));
      });
    });

  /** Starts `pg_autoctl run` of `m` as a detached child (its own process group), output appended to its log. */
  const startRun = (m: Member): void => {
    const fd = openSync(m.log, 'a');
    const child = spawn(pgAutoctl, ['run', '--pgdata', m.pgdata], {
      ...ids,
      env,
      cwd: root,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    child.on('error', () => undefined);
    m.run = child;
    m.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    // the test process may exit while keepers run: the exit handler stops them
    child.unref();
  };

  /** Adds our server settings to a stopped data directory's postgresql.auto.conf (ALTER SYSTEM keeps them). */
  const tuneServer = (m: Member): void => {
    const file = join(m.pgdata, 'postgresql.auto.conf');
    const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
    writeFileSync(file, `${old.replace(/\n?$/, '\n')}${SERVER_SETTINGS.join('\n')}\n`);
    if (user) chownSync(file, user.uid, user.gid);
  };

  /** The processes `m` is made of: its running `pg_autoctl run`, and its live postmaster. */
  const rootsOf = (m: Member): number[] => {
    const run = m.run;
    const running = run?.pid !== undefined && run.exitCode === null && run.signalCode === null;
    return [running ? run.pid : undefined, livePostmaster(m.pgdata)].filter((pid): pid is number => pid !== undefined);
  };

  /** Removes the stale pid files of a dead keeper (pg_autoctl's in XDG_RUNTIME_DIR, as a reboot clears /run). */
  const dropStaleRuntimeFiles = (m: Member): void => {
    rmSync(join(dirs.run, 'pg_autoctl', m.pgdata.replace(/^\//, '')), { recursive: true, force: true });
  };

  /**
   * SIGKILLs every process of `m`: its `pg_autoctl run` tree, and its postmaster's (which a
   * keeper may have started through pg_ctl, outside its tree). Resolves once none is alive.
   */
  const killMember = async (m: Member): Promise<void> => {
    const roots = rootsOf(m);
    const before = processTrees(roots);
    const memory = sharedMemoryOf(m.pgdata, before);
    const killed = killTrees(roots);
    const deadline = performance.now() + 10_000;
    while (processTrees(killed).length > 0) {
      if (performance.now() > deadline) throw failure(`processes of ${m.name} survived SIGKILL`);
      await sleep(5);
    }
    // its parent (us) reaps `pg_autoctl run`: wait for that (bounded), so that it counts as exited
    if (m.run && m.run.exitCode === null && m.run.signalCode === null) await Promise.race([m.exited, sleep(5_000)]);
    releaseSharedMemory(memory);
    // The lock files stay behind, as after a machine loss — unless nobody reaps the killed
    // postmaster (pid 1 of some containers does not reap orphans): PostgreSQL and pg_autoctl
    // would take that zombie's pid for a live postmaster, so then postmaster.pid goes. The
    // runtime files (pid files, sockets) are gone after a reboot anyway.
    const postmaster = postmasterPid(m.pgdata);
    if (postmaster !== undefined && isZombie(postmaster)) {
      rmSync(join(m.pgdata, 'postmaster.pid'), { force: true });
    }
    for (const file of [`.s.PGSQL.${m.port}`, `.s.PGSQL.${m.port}.lock`])
      rmSync(join(dirs.sock, file), { force: true });
    dropStaleRuntimeFiles(m);
  };

  /** Stops `m` cleanly (SIGTERM to `pg_autoctl run`: a fast shutdown), then kills what is left. */
  const stopMember = async (m: Member): Promise<void> => {
    const run = m.run;
    if (run?.pid !== undefined && run.exitCode === null && run.signalCode === null) {
      signal(run.pid, 'SIGTERM');
      await Promise.race([m.exited, sleep(20_000)]);
    }
    await killMember(m);
  };

  /** Synchronous last resort (process exit): SIGKILL everything, remove the root. */
  const destroySync = (): void => {
    const killed: number[] = [];
    const memories = all.map((m) => {
      const roots = rootsOf(m);
      const memory = sharedMemoryOf(m.pgdata, processTrees(roots));
      killed.push(...killTrees(roots));
      return memory;
    });
    // a System V segment goes only once nothing is attached: wait (briefly) for the processes to die
    const deadline = performance.now() + 3_000;
    while (processTrees(killed).length > 0 && performance.now() < deadline) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
    memories.forEach(releaseSharedMemory);
    rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', destroySync);

  let destroyed = false;
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    try {
      // data nodes first: a keeper stopped after the monitor keeps retrying it
      await Promise.allSettled(members.map(stopMember));
      await stopMember(monitor).catch(() => undefined);
    } finally {
      destroySync();
      process.removeListener('exit', destroySync);
    }
  };

  /** A new, unconnected client of the monitor's pg_auto_failover database (bounded connect and queries). */
  const monitorClient = (): pg.Client => {
    const client = new pg.Client({
      connectionString: monitorUrl,
      connectionTimeoutMillis: 5_000,
      query_timeout: 10_000,
      application_name: 'paf-harness',
    });
    client.on('error', () => undefined);
    return client;
  };

  const withMonitor = async <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = monitorClient();
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  };

  const STATES_SQL = `select nodename as name, nodeport as port, reportedstate::text as "reportedState",
      goalstate::text as "goalState", health, coalesce(reportedpgisrunning, false) as "pgIsRunning"
    from pgautofailover.node where formationid = 'default' order by nodeid`;
  const readStates = async (client: pg.Client): Promise<NodeState[]> =>
    (await client.query<NodeState>(STATES_SQL)).rows;
  const describe = (states: NodeState[]): string =>
    states
      .map(
        (s) =>
          `${s.name} :${s.port} ${s.reportedState}/${s.goalState} health ${s.health}${s.pgIsRunning ? '' : ' (pg down)'}`,
      )
      .join('; ') || '(no nodes)';

  const waitForState = async (
    what: string,
    check: (states: NodeState[]) => boolean,
    timeoutMs = 60_000,
  ): Promise<number> => {
    const deadline = performance.now() + timeoutMs;
    let last: NodeState[] = [];
    let lastError: unknown;
    let client: pg.Client | undefined;
    try {
      for (;;) {
        try {
          if (!client) {
            client = monitorClient();
            await client.connect();
          }
          last = await readStates(client);
          lastError = undefined;
          const at = performance.now();
          if (check(last)) return at;
        } catch (error) {
          lastError = error;
          await client?.end().catch(() => undefined);
          client = undefined;
        }
        if (performance.now() > deadline) {
          throw failure(
            `timed out after ${timeoutMs} ms waiting until ${what} (monitor: ${describe(last)})`,
            lastError,
          );
        }
        await sleep(25);
      }
    } finally {
      await client?.end().catch(() => undefined);
    }
  };

  const isStable = (states: NodeState[]): boolean =>
    states.length === 2 &&
    states.every((s) => s.reportedState === s.goalState && s.health === 1 && s.pgIsRunning) &&
    states.filter((s) => s.reportedState === 'primary').length === 1 &&
    states.filter((s) => s.reportedState === 'secondary').length === 1;

  const waitUntilStable = async (timeoutMs = 60_000): Promise<void> => {
    await waitForState('one node is primary and the other secondary, as assigned', isStable, timeoutMs);
  };

  const nodeNamed = (name: string): AutoFailoverNode => {
    const node = nodes.find((n) => n.name === name);
    if (!node) throw new Error(`the monitor reports a node "${name}" this formation did not create`);
    return node;
  };

  const primary = async (): Promise<AutoFailoverNode> => {
    const states = await withMonitor(readStates);
    const primaries = states.filter((s) => PRIMARY_STATES.has(s.goalState) && s.reportedState === s.goalState);
    if (primaries.length !== 1) throw new Error(`the monitor has no single primary: ${describe(states)}`);
    return nodeNamed(primaries[0]!.name);
  };

  let hosts = '';
  let monitorSettings: Record<string, string> | undefined;
  try {
    // the monitor
    await autoctl(
      [
        'create',
        'monitor',
        '--pgdata',
        monitor.pgdata,
        '--pgport',
        String(monitor.port),
        '--pgctl',
        pgCtl,
        '--hostname',
        '127.0.0.1',
        '--auth',
        'trust',
        '--no-ssl',
      ],
      { logOf: monitor },
    );
    // `create monitor` has no --listen: it would listen on '*'
    await autoctl(['config', 'set', '--pgdata', monitor.pgdata, 'postgresql.listen_addresses', '127.0.0.1'], {
      logOf: monitor,
    });
    tuneServer(monitor);
    startRun(monitor);
    await waitForState('the monitor accepts connections', () => true, 30_000);
    const monitorUri = (
      await autoctl(['show', 'uri', '--pgdata', monitor.pgdata, '--formation', 'monitor'], { timeoutMs: 30_000 })
    ).trim();
    monitorSettings = await withMonitor(async (client) => {
      for (const [name, value] of Object.entries(MONITOR_SETTINGS)) {
        await client.query(`alter system set ${name} = ${value}`);
      }
      await client.query('select pg_reload_conf()');
      const deadline = performance.now() + 10_000;
      for (;;) {
        const { rows } = await client.query<{ name: string; setting: string }>(
          "select name, setting from pg_settings where name like 'pgautofailover.%' order by name",
        );
        const settings = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
        if (Object.entries(MONITOR_SETTINGS).every(([name, value]) => settings[name] === String(value))) {
          return settings;
        }
        if (performance.now() > deadline)
          throw new Error(`the monitor did not take our settings: ${inspect(settings)}`);
        await sleep(50);
      }
    });

    // the data nodes, one after the other: node2 registers once node1 is the single primary
    for (const m of members) {
      await autoctl(
        [
          'create',
          'postgres',
          '--pgdata',
          m.pgdata,
          '--pgport',
          String(m.port),
          '--pgctl',
          pgCtl,
          '--listen',
          '127.0.0.1',
          '--hostname',
          '127.0.0.1',
          '--name',
          m.name,
          '--monitor',
          monitorUri,
          '--auth',
          'trust',
          '--no-ssl',
        ],
        { logOf: m },
      );
      for (const [key, value] of Object.entries(KEEPER_SETTINGS)) {
        await autoctl(['config', 'set', '--pgdata', m.pgdata, key, value], { logOf: m });
      }
      if (m === members[0]) tuneServer(m);
      startRun(m);
      if (m === members[0]) {
        await waitForState(
          `${m.name} is the single primary`,
          (states) => states.some((s) => s.name === m.name && s.reportedState === 'single' && s.goalState === 'single'),
          60_000,
        );
      }
    }
    await waitUntilStable(90_000);

    // the application's URL, as pg_auto_failover gives it
    const uri = (await autoctl(['show', 'uri', '--pgdata', monitor.pgdata, '--formation', 'default'])).trim();
    hosts = /^postgres(?:ql)?:\/\/(?:[^@/]*@)?([^/]+)\//.exec(uri)?.[1] ?? '';
    const expected = nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
    if (hosts !== expected) throw new Error(`pg_autoctl show uri gives ${uri}; expected the hosts ${expected}`);
  } catch (error) {
    const wrapped =
      error instanceof Error && error.message.includes('--- tail of')
        ? error
        : failure('starting the pg_auto_failover formation failed', error);
    await destroy().catch(() => undefined);
    throw wrapped;
  }

  const memberOf = (node: AutoFailoverNode): Member => {
    const m = members.find((x) => x.name === node.name);
    if (!m) throw new Error(`${node.name} is not a data node of this formation`);
    return m;
  };

  return {
    nodes,
    monitor: { port: monitor.port, pgdata: monitor.pgdata },
    root,
    monitorSettings: monitorSettings ?? {},

    multiHostUrl: (database = 'postgres', query?: string) => {
      const search = query ? `?${query.replace(/^\?/, '')}` : '';
      return `postgres://postgres@${hosts}/${database}${search}`;
    },

    url: (node, database = 'postgres') => `postgres://postgres@127.0.0.1:${node.port}/${database}`,

    states: () => withMonitor(readStates),
    primary,
    waitForState,
    waitUntilStable,

    performFailover: async () => {
      const started = performance.now();
      try {
        await autoctl(
          ['perform', 'failover', '--pgdata', monitor.pgdata, '--formation', 'default', '--group', '0', '--wait', '60'],
          { timeoutMs: 90_000 },
        );
      } catch (error) {
        throw failure('pg_autoctl perform failover failed', error);
      }
      return started;
    },

    killPrimary: async () => {
      const node = await primary();
      const m = memberOf(node);
      const stopping = performance.now();
      await killMember(m);
      return { node, stopping, stopped: performance.now() };
    },

    restart: async (node) => {
      const m = memberOf(node);
      if (m.run && m.run.exitCode === null && m.run.signalCode === null) {
        throw new Error(`the keeper of ${node.name} is still running`);
      }
      // the monitor's clock: reporttime is set by it
      const reportTime = async (): Promise<number> =>
        withMonitor(async (c) => {
          const { rows } = await c.query<{ at: Date }>(
            'select reporttime as at from pgautofailover.node where nodename = $1',
            [node.name],
          );
          return rows[0]?.at.getTime() ?? 0;
        });
      const since = await withMonitor(async (c) =>
        (await c.query<{ now: Date }>('select now()')).rows[0]!.now.getTime(),
      );
      startRun(m);
      const run = m.run!;
      const deadline = performance.now() + 60_000;
      for (;;) {
        if ((await reportTime()) > since) return;
        if (run.exitCode !== null || run.signalCode !== null) {
          throw failure(`the keeper of ${node.name} exited (${run.exitCode ?? run.signalCode}) after its restart`);
        }
        if (performance.now() > deadline) throw failure(`${node.name} did not report to the monitor after its restart`);
        await sleep(100);
      }
    },

    destroy,
  };
}
