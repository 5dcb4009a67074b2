/**
 * A private PgBouncer for specs: its own ini, auth file, log and pid file in a temp dir, listening
 * on a free loopback port (no unix socket), in front of one PostgreSQL server; started as a
 * daemon (as the `postgres` user when we are root: PgBouncer refuses to run as root) and stopped
 * by the pid it wrote.
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './free-port.js';

const run = promisify(execFile);

/** Where PgBouncer is installed (Debian's package), or undefined. */
export function findPgBouncer(): string | undefined {
  const dirs = [
    '/usr/sbin',
    '/usr/bin',
    '/usr/local/sbin',
    '/usr/local/bin',
    ...(process.env['PATH'] ?? '').split(':'),
  ];
  return dirs.map((dir) => join(dir, 'pgbouncer')).find((path) => existsSync(path));
}

/** The `postgres` user to run as when we are root. */
function serviceUser(): { uid: number; gid: number; name: string } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root, and there is no `postgres` user to run PgBouncer as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid), name: 'postgres' };
}

/** Options of startPgBouncer. */
export interface PgBouncerOptions {
  /** The PostgreSQL server behind it (every database name is passed through). */
  readonly server: { readonly host: string; readonly port: number; readonly user: string; readonly password?: string };
  /** (Default: transaction) */
  readonly poolMode?: 'session' | 'transaction' | 'statement';
  /** Server connections per database/user pair. (Default: 5) */
  readonly poolSize?: number;
  /** (Default: 400) */
  readonly maxClientConnections?: number;
}

/** A running PgBouncer. */
export interface PgBouncer {
  readonly port: number;
  /** `postgres://<user>@127.0.0.1:<port>/<database>` through the bouncer. */
  url(database: string): string;
  /** Its admin console (SHOW POOLS, SHOW CLIENTS…): simple-protocol queries only. */
  admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T>;
  /** Stops it (SIGTERM by pid, waiting for it to exit) and deletes its files. Safe to call twice. */
  destroy(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Quotes a value for pgbouncer.ini / the auth file. */
function quoted(value: string): string {
  return `"${value.replace(/"/g, '""')}"`;
}

/**
 * Starts PgBouncer on a free loopback port in front of `options.server`.
 * @throws Error when PgBouncer is not installed or does not start.
 */
export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const binary = findPgBouncer();
  if (!binary) throw new Error('PgBouncer is not installed (Debian: apt-get install pgbouncer)');
  const { server } = options;
  const root = mkdtempSync(join(tmpdir(), 'kr-bouncer-'));
  const port = await freePort();
  const ini = join(root, 'pgbouncer.ini');
  const pidFile = join(root, 'pgbouncer.pid');
  const logFile = join(root, 'pgbouncer.log');
  const authFile = join(root, 'userlist.txt');
  const password = server.password === undefined ? '' : ` password=${server.password}`;
  writeFileSync(authFile, `${quoted(server.user)} ""\n`);
  writeFileSync(
    ini,
    [
      '[databases]',
      `* = host=${server.host} port=${server.port} user=${server.user}${password}`,
      '',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${authFile}`,
      `admin_users = ${server.user}`,
      `pool_mode = ${options.poolMode ?? 'transaction'}`,
      `default_pool_size = ${options.poolSize ?? 5}`,
      'min_pool_size = 0',
      'reserve_pool_size = 0',
      `max_client_conn = ${options.maxClientConnections ?? 400}`,
      `logfile = ${logFile}`,
      `pidfile = ${pidFile}`,
      'server_check_delay = 0',
      '',
    ].join('\n'),
  );
  const user = serviceUser();
  if (user) {
    for (const path of [root, ini, authFile]) chownSync(path, user.uid, user.gid);
  }
  const [file, argv] = user ? ['runuser', ['-u', user.name, '--', binary, '-d', ini]] : [binary, ['-d', ini]];
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '');
  try {
    await run(file, argv);
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(`PgBouncer did not start: ${String(error)}`, { cause: error });
  }

  const pid = async (): Promise<number> => {
    for (let i = 0; i < 100; i++) {
      if (existsSync(pidFile)) {
        const value = Number(readFileSync(pidFile, 'utf8').trim());
        if (value > 0) return value;
      }
      await sleep(50);
    }
    throw new Error(`PgBouncer wrote no pid file\n${log()}`);
  };
  const bouncerPid = await pid();

  const url = (database: string) => `postgres://${encodeURIComponent(server.user)}@127.0.0.1:${port}/${database}`;
  const admin = async <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: url('pgbouncer') });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  };
  // ready once it answers on its port
  for (let i = 0; ; i++) {
    try {
      await admin((c) => c.query('SHOW VERSION'));
      break;
    } catch (error) {
      if (i >= 100) throw new Error(`PgBouncer does not answer: ${String(error)}\n${log()}`, { cause: error });
      await sleep(50);
    }
  }

  let destroyed = false;
  return {
    port,
    url,
    admin,
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      if (alive(bouncerPid)) {
        process.kill(bouncerPid, 'SIGTERM');
        for (let i = 0; i < 100 && alive(bouncerPid); i++) await sleep(50);
        if (alive(bouncerPid)) process.kill(bouncerPid, 'SIGKILL');
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}
