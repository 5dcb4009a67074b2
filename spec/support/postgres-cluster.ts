/**
 * A private, throwaway PostgreSQL cluster for specs: initdb into a temp dir, start it on a free
 * loopback port, stop it by pg_ctl (and by pid as a last resort). Specs that must restart or
 * replicate a server use one of these, never a server they did not start.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, realpathSync, rmSync, chownSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';

const run = promisify(execFile);

/** Where PostgreSQL's server binaries live, or undefined when they are not installed. */
export function findServerBinaries(): string | undefined {
  const candidates: string[] = [];
  const fromPath = (process.env['PATH'] ?? '').split(':').filter(Boolean);
  candidates.push(...fromPath);
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => join(debianRoot, v, 'bin')));
  }
  const found = candidates.find(
    (dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')) && existsSync(join(dir, 'postgres')),
  );
  // a PATH entry may hold only symlinks to some of the binaries: use the directory they live in
  return found === undefined ? undefined : dirname(realpathSync(join(found, 'initdb')));
}

/** The uid/gid PostgreSQL must run as: ourselves, or the `postgres` user when we are root. */
export function serverUser(): { uid: number; gid: number; name: string } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n');
  const line = passwd.find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root, and there is no `postgres` user to run PostgreSQL as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid), name: 'postgres' };
}

/**
 * Runs a server binary (initdb, pg_ctl, pg_rewind, …) as the server user: ourselves, or the
 * `postgres` user through runuser when we are root. Resolves to its stdout; rejects with
 * execFile's error (its message carries the command's stderr) when it exits non-zero, or when it
 * is still running after `timeoutMs` (then it is sent SIGTERM; runuser passes that on).
 */
export async function runAs(bin: string, args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
  const user = serverUser();
  const [file, argv] = user ? ['runuser', ['-u', user.name, '--', bin, ...args]] : [bin, args];
  const { stdout } = await run(file, argv, { maxBuffer: 16 * 1024 * 1024, timeout: options.timeoutMs ?? 0 });
  return stdout;
}

export interface ThrowawayCluster {
  readonly port: number;
  readonly dataDir: string;
  readonly socketDir: string;
  readonly binDir: string;
  /** `postgres://postgres@127.0.0.1:<port>/<database>` */
  url(database?: string): string;
  /** The postmaster's pid (changes across restarts). */
  pid(): number;
  start(): Promise<void>;
  /** Stops the server; `immediate` is a crash-like stop. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Stops the server and deletes its files. Safe to call twice. */
  destroy(): Promise<void>;
  /** Synchronous last-resort stop, for process exit handlers. */
  destroySync(): void;
}

export interface ClusterOptions {
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
  /** Make the data dir from an existing cluster with pg_basebackup -R (a streaming replica). */
  replicaOf?: ThrowawayCluster;
}

/**
 * Creates and starts a throwaway cluster on a free loopback port.
 * @throws Error when the server binaries are missing or the server does not start.
 */
export async function startThrowawayCluster(options: ClusterOptions = {}): Promise<ThrowawayCluster> {
  const binDir = findServerBinaries();
  if (!binDir) throw new Error('PostgreSQL server binaries (initdb, pg_ctl) are not installed');
  const root = mkdtempSync(join(tmpdir(), 'kr-pg-'));
  const dataDir = join(root, 'data');
  const socketDir = root;
  const user = serverUser();
  if (user) chownSync(root, user.uid, user.gid);
  const port = await freePort();
  const bin = (name: string) => join(binDir, name);

  try {
    if (options.replicaOf) {
      await runAs(bin('pg_basebackup'), [
        '-h',
        '127.0.0.1',
        '-p',
        String(options.replicaOf.port),
        '-U',
        'postgres',
        '-D',
        dataDir,
        '-R',
        '-X',
        'stream',
        '--no-sync',
      ]);
    } else {
      await runAs(bin('initdb'), [
        '-D',
        dataDir,
        '-U',
        'postgres',
        '--auth=trust',
        '-E',
        'UTF8',
        '--locale=C',
        '--no-sync',
      ]);
    }
  } catch (error) {
    // a failed initdb or pg_basebackup leaves nothing behind
    rmSync(root, { recursive: true, force: true });
    throw error;
  }

  const settings: Record<string, string | number> = {
    listen_addresses: '127.0.0.1',
    port,
    unix_socket_directories: socketDir,
    fsync: 'off',
    full_page_writes: 'off',
    max_connections: 300,
    wal_level: 'replica',
    max_wal_senders: 5,
    ...options.settings,
  };
  const serverArgs = Object.entries(settings)
    .map(([k, v]) => `-c ${k}=${String(v)}`)
    .join(' ');
  const logFile = join(root, 'server.log');

  const cluster: ThrowawayCluster = {
    port,
    dataDir,
    socketDir,
    binDir,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    pid: () => Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]),
    start: async () => {
      await runAs(bin('pg_ctl'), ['-D', dataDir, '-o', serverArgs, '-l', logFile, '-w', '-t', '60', 'start']);
    },
    stop: async (mode = 'fast') => {
      if (!existsSync(join(dataDir, 'postmaster.pid'))) return;
      await runAs(bin('pg_ctl'), ['-D', dataDir, '-m', mode, '-w', 'stop']);
    },
    destroy: async () => {
      if (!existsSync(root)) return;
      await cluster.stop('immediate').catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    },
    destroySync: () => {
      if (!existsSync(root)) return;
      if (existsSync(join(dataDir, 'postmaster.pid'))) {
        try {
          process.kill(cluster.pid(), 'SIGQUIT');
        } catch {
          // already gone
        }
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    await cluster.start();
  } catch (error) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
    cluster.destroySync();
    throw new Error(`throwaway PostgreSQL did not start: ${String(error)}\n${log}`, { cause: error });
  }
  return cluster;
}
