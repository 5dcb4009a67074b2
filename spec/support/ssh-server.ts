/**
 * A real OpenSSH `sshd` for tunnel specs: its own config, host key, user keys and log in a fresh
 * temp dir, listening on a free 127.0.0.1 port, started in the foreground (`-D`) and stopped by
 * pid. Also an `ssh-agent` holding a key, and the processes that serve each SSH connection (for
 * killing or freezing them mid-load).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { DatabaseConfig } from '../../lib/config.js';
import type { SshTunnel } from '../../lib/connection/ssh/ssh-tunnel.js';
import { freePort } from './free-port.js';

const run = promisify(execFile);

/** Where sshd is expected. */
export const SSHD_PATH = '/usr/sbin/sshd';

/** Why the tunnel specs cannot run here, or undefined when they can. */
export function sshdMissingReason(): string | undefined {
  if (!existsSync(SSHD_PATH)) return `${SSHD_PATH} is not installed (Debian: apt-get install openssh-server)`;
  return undefined;
}

/**
 * For a suite's `before` hook: starts an sshd, or, when sshd is not installed, prints why and
 * skips the suite (never silently).
 */
export async function startSshServerOrSkip(context: Mocha.Context, what: string): Promise<SshServer> {
  const missing = sshdMissingReason();
  if (missing) {
    process.stdout.write(`    skipping ${what}: ${missing}\n`);
    context.skip();
  }
  return startSshServer();
}

/** A key pair on disk. */
export interface KeyFiles {
  /** The private key file. */
  readonly path: string;
  /** The private key's text. */
  readonly privateKey: string;
  /** The `.pub` line. */
  readonly publicKey: string;
  /** `SHA256:…`, as sshd logs it. */
  readonly fingerprint: string;
}

/** One running ssh-agent. */
export interface SshAgent {
  /** Its socket (what SSH_AUTH_SOCK holds). */
  readonly socket: string;
  /** Stops it (by pid). Safe to call twice. */
  stop(): Promise<void>;
}

/** Options of startSshServer. */
export interface SshServerOptions {
  /** (Default: a free port) */
  readonly port?: number;
}

/** A running (or stopped, restartable) OpenSSH sshd. */
export interface SshServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The user the tunnel logs in as: the current user. */
  readonly user: string;
  readonly dir: string;
  /** `SHA256:…` of the host key, as `ssh-keygen -lf` prints it. */
  readonly hostFingerprint: string;
  /** A known_hosts file naming this server's host key (for the `ssh` client). */
  readonly knownHostsFile: string;
  /** In authorized_keys, no passphrase. */
  readonly userKey: KeyFiles;
  /** In authorized_keys, encrypted with `passphrase`. */
  readonly encryptedKey: KeyFiles & { readonly passphrase: string };
  /** Not in authorized_keys. */
  readonly strangerKey: KeyFiles;
  readonly logFile: string;
  /** The listener's pid, while it runs. */
  pid(): number | undefined;
  /** The processes serving SSH connections now (the listener's descendants). */
  servingPids(): number[];
  /** The whole log. */
  log(): string;
  /** The log's current length: pass it to `logSince`. */
  mark(): number;
  /** The log written since `mark`. */
  logSince(mark: number): string;
  /** Waits until the log since `mark` matches `pattern`; returns that part of the log. */
  waitForLog(pattern: RegExp, mark: number, timeoutMs?: number): Promise<string>;
  /** Starts the listener (again), on the same port with the same keys. */
  start(): Promise<void>;
  /** Kills the listener and every serving process with SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Sends `signal` to the serving processes (not the listener); returns their pids. */
  signalConnections(signal: NodeJS.Signals): number[];
  /** Starts an ssh-agent holding `key`. */
  startAgent(key: KeyFiles & { readonly passphrase?: string }): Promise<SshAgent>;
  /** Stops everything it started and deletes its files. Safe to call twice. */
  destroy(): Promise<void>;
}

async function keygen(path: string, passphrase: string, comment: string): Promise<KeyFiles> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', comment, '-f', path]);
  return {
    path,
    privateKey: readFileSync(path, 'utf8'),
    publicKey: readFileSync(`${path}.pub`, 'utf8').trim(),
    fingerprint: await fingerprintOf(`${path}.pub`),
  };
}

/** `SHA256:…` of a public key file, from `ssh-keygen -lf`. */
export async function fingerprintOf(publicKeyFile: string): Promise<string> {
  const { stdout } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicKeyFile]);
  return stdout.split(' ')[1] ?? '';
}

function hexPort(address: string): number {
  return Number.parseInt(address.split(':')[1] ?? '', 16);
}

/**
 * The local ports of the TCP connections to `remotePort` that processes `pids` hold (Linux:
 * their socket fds matched against /proc/net/tcp and tcp6).
 */
export function tcpLocalPorts(pids: readonly number[], remotePort: number): number[] {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone
    }
    for (const fd of fds) {
      try {
        const match = readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
        if (match?.[1]) inodes.add(match[1]);
      } catch {
        // closed meanwhile
      }
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [, local, remote, , , , , , , inode] = fields;
      if (!local || !remote || !inode) continue;
      if (hexPort(remote) === remotePort && inodes.has(inode)) ports.push(hexPort(local));
    }
  }
  return ports;
}

/** The parent pid and state of a process, or undefined when it is gone. */
function procStat(pid: number): { ppid: number; state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '?', ppid: Number(rest[1]) };
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/** Every live descendant of `root`. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const stat = procStat(pid);
    if (!stat || !alive(pid)) continue;
    children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), pid]);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const next = children.get(queue.shift() ?? -1) ?? [];
    out.push(...next);
    queue.push(...next);
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Generates keys and a config in a fresh temp dir and starts sshd on 127.0.0.1.
 * @throws Error when sshd is missing or does not start (with the end of its log).
 */
export async function startSshServer(options: SshServerOptions = {}): Promise<SshServer> {
  const missing = sshdMissingReason();
  if (missing) throw new Error(missing);
  try {
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation dir
  } catch {
    // not root: sshd says what it misses when it does not start (its log is in the error)
  }
  const dir = mkdtempSync(join(tmpdir(), 'kr-sshd-'));
  const port = options.port ?? (await freePort());
  const user = userInfo().username;
  const logFile = join(dir, 'sshd.log');
  const configFile = join(dir, 'sshd_config');
  const hostKeyPath = join(dir, 'ssh_host_ed25519_key');
  const processes = new Set<ChildProcess>();

  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'spec-host', '-f', hostKeyPath]);
  const hostFingerprint = await fingerprintOf(`${hostKeyPath}.pub`);
  const knownHostsFile = join(dir, 'known_hosts');
  writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${readFileSync(`${hostKeyPath}.pub`, 'utf8')}`);
  const userKey = await keygen(join(dir, 'id_user'), '', 'spec-user');
  const passphrase = 'correct horse battery staple';
  const encryptedKey = { ...(await keygen(join(dir, 'id_encrypted'), passphrase, 'spec-encrypted')), passphrase };
  const strangerKey = await keygen(join(dir, 'id_stranger'), '', 'spec-stranger');
  writeFileSync(join(dir, 'authorized_keys'), `${userKey.publicKey}\n${encryptedKey.publicKey}\n`, { mode: 0o600 });
  writeFileSync(
    configFile,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKeyPath}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'AllowTcpForwarding yes',
      'AllowStreamLocalForwarding yes',
      'X11Forwarding no',
      'UseDNS no',
      'PrintMotd no',
      'PrintLastLog no',
      'MaxStartups 100',
      'LogLevel DEBUG1',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );

  let listener: ChildProcess | undefined;
  let destroyed = false;

  const log = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');

  const start = async (): Promise<void> => {
    if (listener && running(listener)) return;
    const mark = log().length;
    const child = spawn(SSHD_PATH, ['-D', '-f', configFile, '-E', logFile], { stdio: 'ignore' });
    processes.add(child);
    child.once('exit', () => processes.delete(child));
    listener = child;
    try {
      await waitUntil(
        () => log().slice(mark).includes(`Server listening on 127.0.0.1 port ${port}`) || child.exitCode !== null,
        10_000,
        'sshd to listen',
      );
    } catch (error) {
      signal(child.pid ?? -1, 'SIGKILL');
      throw error;
    }
    if (child.exitCode !== null) {
      throw new Error(`sshd exited with ${child.exitCode}:\n${log().slice(mark).slice(-2000)}`);
    }
  };

  const kill = async (): Promise<void> => {
    const root = listener?.pid;
    if (root === undefined) return;
    const pids = [root, ...descendants(root)];
    for (const pid of pids) signal(pid, 'SIGKILL');
    await waitUntil(() => pids.every((pid) => !alive(pid)), 5_000, 'sshd to die');
    listener = undefined;
  };

  const agents = new Set<ChildProcess>();

  const server: SshServer = {
    host: '127.0.0.1',
    port,
    user,
    dir,
    hostFingerprint,
    knownHostsFile,
    userKey,
    encryptedKey,
    strangerKey,
    logFile,
    pid: () => (listener && running(listener) ? listener.pid : undefined),
    servingPids: () => {
      const root = listener?.pid;
      return root === undefined ? [] : descendants(root);
    },
    log,
    mark: () => log().length,
    logSince: (mark) => log().slice(mark),
    waitForLog: async (pattern, mark, timeoutMs = 5_000) => {
      await waitUntil(() => pattern.test(log().slice(mark)), timeoutMs, `sshd's log to match ${String(pattern)}`);
      return log().slice(mark);
    },
    start,
    kill,
    signalConnections: (sig) => {
      const pids = server.servingPids();
      for (const pid of pids) signal(pid, sig);
      return pids;
    },
    startAgent: async (key) => {
      const socket = join(dir, `agent-${agents.size}.sock`);
      const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
      agents.add(agent);
      await waitUntil(() => existsSync(socket) || agent.exitCode !== null, 5_000, 'ssh-agent to listen');
      if (agent.exitCode !== null) throw new Error(`ssh-agent exited with ${agent.exitCode}`);
      await run('ssh-add', ['-q', key.path], {
        env: { ...process.env, SSH_AUTH_SOCK: socket, SSH_ASKPASS_REQUIRE: 'never' },
      });
      const stop = async (): Promise<void> => {
        if (agent.exitCode !== null || agent.signalCode !== null) return;
        const exited = new Promise((resolve) => agent.once('exit', resolve));
        signal(agent.pid ?? -1, 'SIGTERM');
        await exited;
        agents.delete(agent);
      };
      return { socket, stop };
    },
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      process.removeListener('exit', destroySync);
      for (const agent of agents) signal(agent.pid ?? -1, 'SIGTERM');
      await kill();
      // serving processes whose listener died earlier (kill() then start()) were SIGKILLed with it
      rmSync(dir, { recursive: true, force: true });
    },
  };

  function destroySync(): void {
    for (const agent of agents) signal(agent.pid ?? -1, 'SIGKILL');
    const root = listener?.pid;
    if (root !== undefined) for (const pid of [root, ...descendants(root)]) signal(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  process.once('exit', destroySync);

  try {
    await start();
  } catch (error) {
    destroySync();
    process.removeListener('exit', destroySync);
    throw error;
  }
  return server;
}

/**
 * The DB_SSH_* variables (and DATABASE_URL) that make loadConfig tunnel `databaseUrl` through
 * `server`: the unencrypted user key from its file, the host key pinned, no agent. `overrides`
 * win; an empty string unsets a variable.
 */
export function sshEnv(
  server: SshServer,
  databaseUrl: string,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    DB_SSH_HOST: server.host,
    DB_SSH_PORT: String(server.port),
    DB_SSH_USER: server.user,
    DB_SSH_PRIVATE_KEY_PATH: server.userKey.path,
    DB_SSH_HOST_FINGERPRINT: server.hostFingerprint,
    DB_SSH_AGENT: 'false',
    DB_SSH_READY_TIMEOUT_MS: '5000',
    ...overrides,
  };
}

/**
 * A pg Pool whose every connection goes through `tunnel` to the server `config` names — what
 * createDatabase builds, with any pg option on top for a spec.
 * @throws Error when `config` has no server connection.
 */
export function poolThroughTunnel(config: DatabaseConfig, tunnel: SshTunnel, options: pg.PoolConfig = {}): pg.Pool {
  const target = config.connection;
  if (!target) throw new Error('the config has no connection');
  return new pg.Pool({
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.user,
    password: target.password,
    max: 10,
    stream: tunnel.streamFactory({ host: target.host, port: target.port }),
    ...options,
  });
}
