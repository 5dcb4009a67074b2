/**
 * A three-node streaming-replication cluster for failover specs, made of throwaway clusters
 * (postgres-cluster.ts): a primary, a synchronous standby (`s1`) and an asynchronous one (`s2`),
 * with the moves a failover spec needs — kill a server like a lost machine (SIGKILL, no clean
 * shutdown), promote a standby, point the other standby at the new primary, and bring the old
 * primary back as a standby (pg_rewind, or a fresh pg_basebackup when that fails).
 *
 * Settings that the moves change later (synchronous_standby_names, primary_conninfo) live in
 * postgresql.auto.conf (ALTER SYSTEM), never in `-c` options, which would override it. Each node
 * keeps its port across restarts, so multiHostUrl() stays valid throughout.
 *
 * Standbys never carry synchronous_standby_names: the initial standbys are cloned before it is set,
 * and rejoin() removes it from the copy of the source's postgresql.auto.conf that pg_rewind and
 * pg_basebackup bring along. A promoted standby therefore starts with synchronous replication
 * off; call setSynchronous() on it to turn it on.
 */
import { chownSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { inspect } from 'node:util';
import pg from 'pg';
import { releaseSharedMemory, sharedMemoryOf, type SharedMemory } from './shared-memory.js';
import { runAs, startThrowawayCluster, type ThrowawayCluster } from './postgres-cluster.js';
import { isLive, isZombie, processTrees, signal } from './process-tree.js';

export interface FailoverCluster {
  /**
   * The current primary, and the standbys, as ThrowawayClusters (they change roles over time).
   * Fixed order: nodes[0] starts as primary, nodes[1] is the synchronous standby (cluster_name
   * and application_name `s1`), nodes[2] the asynchronous standby (`s2`).
   */
  readonly nodes: readonly ThrowawayCluster[];
  /** `postgres://postgres@127.0.0.1:p0,127.0.0.1:p1,127.0.0.1:p2/<database>` plus `?` query if given */
  multiHostUrl(database?: string, query?: string): string;
  /**
   * SIGKILL the postmaster of `node` and every process of that server (simulates a machine loss;
   * no clean shutdown). Resolves once no process of it is left. Its shared memory goes too, as in
   * a machine loss. Its lock files (postmaster.pid, the socket's .lock) stay behind, stale —
   * unless the killed postmaster stays an unreaped zombie (pid 1 does not reap orphans, as in some
   * containers), whose pid PostgreSQL would take for a live postmaster: then they are removed.
   * Does nothing when the server is not running.
   */
  kill(node: ThrowawayCluster): Promise<void>;
  /**
   * `pg_ctl promote -w` on a standby; resolves when it accepts writes (pg_is_in_recovery() false).
   * Returns performance.now() at that moment.
   */
  promote(node: ThrowawayCluster): Promise<number>;
  /**
   * Points a running standby at a new primary (ALTER SYSTEM SET primary_conninfo +
   * pg_reload_conf), and waits until it streams from it (pg_stat_wal_receiver status
   * 'streaming' from that port, and the primary's pg_stat_replication row 'streaming'), bounded
   * (30 s). Throws at once when `standby` is not in recovery.
   */
  follow(standby: ThrowawayCluster, primary: ThrowawayCluster): Promise<void>;
  /**
   * Brings a killed former primary back as a standby of `primary`: CHECKPOINT on `primary` (so
   * its pg_control shows its new timeline), pg_rewind (which runs crash recovery of the killed
   * node itself; falling back to a fresh pg_basebackup into the same data directory when
   * pg_rewind fails), standby.signal and primary_conninfo (keeping its application_name; any
   * synchronous_standby_names copied from the source dropped), start it (same port), wait until
   * it streams (as follow()). A node that is still running is stopped (fast) first.
   */
  rejoin(node: ThrowawayCluster, primary: ThrowawayCluster): Promise<void>;
  /**
   * Sets synchronous_standby_names on `primary` (ALTER SYSTEM + reload); '' turns synchronous
   * replication off. Resolves once pg_stat_replication reflects it (a connected standby it names
   * is no longer 'async'; with '' every standby is 'async'), bounded (10 s).
   */
  setSynchronous(primary: ThrowawayCluster, names: string): Promise<void>;
  /** Stops and deletes every node. Safe to call twice. */
  destroy(): Promise<void>;
}

/** cluster_name of nodes[0], nodes[1], nodes[2]: also their walreceivers' application_name. */
const NAMES = ['p0', 's1', 's2'] as const;

/** `-c` settings of every node (none of them is changed later). */
const SETTINGS: Record<string, string | number> = {
  wal_level: 'replica',
  hot_standby: 'on',
  max_wal_senders: 10,
  wal_keep_size: '256MB',
  // pg_rewind needs hint bits WAL-logged on the target and full page writes on the source
  // (postgres-cluster.ts turns full_page_writes off by default)
  wal_log_hints: 'on',
  full_page_writes: 'on',
  // a standby whose primary went away retries every 5 s by default
  wal_retrieve_retry_interval: '200ms',
};

const STREAM_TIMEOUT_MS = 30_000;
const COMMAND_TIMEOUT_MS = 90_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The last part of a node's server log, for error messages. */
function logTail(node: ThrowawayCluster, chars = 3000): string {
  const file = join(dirname(node.dataDir), 'server.log');
  const text = existsSync(file) ? readFileSync(file, 'utf8').slice(-chars) : '(no server.log)';
  return `\n--- tail of server.log of :${node.port} ---\n${text}`;
}

const message = (error: unknown): string => (error instanceof Error ? error.message : inspect(error));

/** An Error about `node`, with the tail of its server log (and of others named). */
function failure(what: string, cause: unknown, ...nodes: ThrowawayCluster[]): Error {
  const reason = cause === undefined ? '' : `: ${message(cause)}`;
  return new Error(`${what}${reason}${nodes.map((n) => logTail(n)).join('')}`, { cause });
}

/** Runs one statement on its own short-lived connection to `node`. */
async function query<R extends pg.QueryResultRow>(node: ThrowawayCluster, text: string): Promise<R[]> {
  const client = new pg.Client({
    connectionString: node.url(),
    connectionTimeoutMillis: 5_000,
    query_timeout: 60_000,
    application_name: 'failover-harness',
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Polls `check` (errors count as "not yet") until it is true; throws after `ms` with the log tails. */
async function waitFor(
  check: () => Promise<boolean>,
  ms: number,
  what: string,
  ...nodes: ThrowawayCluster[]
): Promise<void> {
  const deadline = performance.now() + ms;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() > deadline) {
      throw failure(`timed out after ${ms} ms waiting until ${what}`, lastError, ...nodes);
    }
    await sleep(50);
  }
}

/** The postmaster's pid from postmaster.pid, when that process is alive and is a postgres. */
function livePostmaster(node: ThrowawayCluster): number | undefined {
  if (!existsSync(join(node.dataDir, 'postmaster.pid'))) return undefined;
  const pid = node.pid();
  if (!Number.isInteger(pid) || pid <= 0 || !isLive(pid)) return undefined;
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres' ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes the postmaster.pid of a server that is not running (a killed one's), so that stopping it
 * (pg_ctl stop, destroySync) cannot signal whichever process has that pid now.
 */
function dropStalePidFile(node: ThrowawayCluster): void {
  const pidFile = join(node.dataDir, 'postmaster.pid');
  if (existsSync(pidFile) && livePostmaster(node) === undefined) rmSync(pidFile, { force: true });
}

/** `host=… port=… user=postgres application_name=…`: how a standby of `primary` named `name` connects. */
function conninfo(primary: ThrowawayCluster, name: string): string {
  return `host=127.0.0.1 port=${primary.port} user=postgres application_name=${name}`;
}

/**
 * Makes a stopped data directory a standby of `primary`: standby.signal, and postgresql.auto.conf
 * with our primary_conninfo and without synchronous_standby_names (both files owned like the data
 * directory, so the server can rewrite them with ALTER SYSTEM).
 */
function writeStandbyConfig(node: ThrowawayCluster, primary: ThrowawayCluster, name: string): void {
  const autoConf = join(node.dataDir, 'postgresql.auto.conf');
  const signal = join(node.dataDir, 'standby.signal');
  const old = existsSync(autoConf) ? readFileSync(autoConf, 'utf8').split('\n') : [];
  const kept = old.filter(
    (line) => line.trim() !== '' && !/^\s*(primary_conninfo|synchronous_standby_names)\s*=/.test(line),
  );
  const value = conninfo(primary, name).replaceAll("'", "''");
  writeFileSync(autoConf, [...kept, `primary_conninfo = '${value}'`, ''].join('\n'));
  writeFileSync(signal, '');
  const { uid, gid } = statSync(node.dataDir);
  for (const file of [autoConf, signal]) chownSync(file, uid, gid);
}

/**
 * Starts a primary and two streaming standbys (pg_basebackup), nodes[1] synchronous with
 * synchronous_commit=on on the primary, and waits until both stream (and s1 shows sync_state
 * 'sync' in pg_stat_replication).
 * @throws Error (with the server logs' tails) when a server does not start or stream in time.
 */
export async function startFailoverCluster(): Promise<FailoverCluster> {
  const created: ThrowawayCluster[] = [];
  const destroyAll = async (): Promise<void> => {
    const results = await Promise.allSettled(
      created.map(async (node) => {
        dropStalePidFile(node);
        await node.destroy();
      }),
    );
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (errors.length > 0) throw new AggregateError(errors, 'destroying the failover cluster failed');
  };
  const onExit = (): void => {
    for (const node of created) {
      try {
        dropStalePidFile(node);
      } catch {
        // destroySync still removes the files
      }
      node.destroySync();
    }
  };
  process.once('exit', onExit);

  const nodes: ThrowawayCluster[] = [];
  const nameOf = (node: ThrowawayCluster): string => {
    const index = nodes.indexOf(node);
    if (index < 0) throw new Error(`the server on :${node.port} is not a node of this failover cluster`);
    return NAMES[index] ?? `n${index}`;
  };

  /** Waits until `standby` streams from `primary`, as both of them see it. */
  const waitStreaming = (standby: ThrowawayCluster, primary: ThrowawayCluster): Promise<void> => {
    const name = nameOf(standby);
    return waitFor(
      async () => {
        const [receiver] = await query<{ status: string; sender_port: number | null }>(
          standby,
          'select status, sender_port from pg_stat_wal_receiver',
        );
        if (receiver?.status !== 'streaming' || receiver.sender_port !== primary.port) return false;
        const senders = await query<{ state: string }>(
          primary,
          `select state from pg_stat_replication where application_name = ${pg.escapeLiteral(name)}`,
        );
        return senders.some((s) => s.state === 'streaming');
      },
      STREAM_TIMEOUT_MS,
      `${name} (:${standby.port}) streams from :${primary.port}`,
      standby,
      primary,
    );
  };

  const setSynchronous = async (primary: ThrowawayCluster, names: string): Promise<void> => {
    await query(primary, `alter system set synchronous_standby_names = ${pg.escapeLiteral(names)}`);
    await query(primary, 'select pg_reload_conf()');
    // the standby names in `names` ('s1', 'FIRST 1 (s1, s2)', 'ANY 1 ("s1", s2)', '*')
    const named = (names.match(/"[^"]*"|[\w$*]+/g) ?? [])
      .map((n) => n.replace(/^"|"$/g, ''))
      .filter((n) => !/^(first|any|\d+)$/i.test(n))
      .map((n) => n.toLowerCase());
    await waitFor(
      async () => {
        const [setting] = await query<{ names: string }>(
          primary,
          `select current_setting('synchronous_standby_names') as names`,
        );
        if (setting?.names !== names) return false;
        // the walsenders apply the change on their own: wait until pg_stat_replication shows it
        const senders = await query<{ name: string; sync: string }>(
          primary,
          'select application_name as name, sync_state as sync from pg_stat_replication',
        );
        if (names === '') return senders.every((s) => s.sync === 'async');
        const candidates = senders.filter((s) => named.includes('*') || named.includes(s.name.toLowerCase()));
        return candidates.length === 0 || candidates.some((s) => s.sync !== 'async');
      },
      10_000,
      `:${primary.port} has synchronous_standby_names = '${names}'`,
      primary,
    );
  };

  try {
    const primary = await startThrowawayCluster({ settings: { ...SETTINGS, cluster_name: NAMES[0] } });
    created.push(primary);
    // pg_rewind's crash recovery of a killed target runs `postgres --single` without our -c
    // options, so these must be in a config file too (the standbys' copies inherit them): without
    // wal_log_hints that run turns it off in pg_control (and pg_rewind refuses the target); without
    // wal_keep_size its end-of-recovery checkpoint recycles the WAL pg_rewind must read back to
    // the last common checkpoint ("could not find previous WAL record")
    for (const name of ['wal_log_hints', 'wal_keep_size']) {
      await query(primary, `alter system set ${name} = ${pg.escapeLiteral(String(SETTINGS[name]))}`);
    }
    const standbys = await Promise.allSettled(
      [NAMES[1], NAMES[2]].map((name) =>
        startThrowawayCluster({ replicaOf: primary, settings: { ...SETTINGS, cluster_name: name } }),
      ),
    );
    for (const s of standbys) if (s.status === 'fulfilled') created.push(s.value);
    for (const s of standbys) if (s.status === 'rejected') throw s.reason;
    nodes.push(...created);

    await query(primary, 'alter system set synchronous_commit = on');
    await setSynchronous(primary, NAMES[1]);
    for (const standby of nodes.slice(1)) await waitStreaming(standby, primary);
    await waitFor(
      async () => {
        const rows = await query<{ application_name: string; sync_state: string }>(
          primary,
          'select application_name, sync_state from pg_stat_replication',
        );
        return rows.some((r) => r.application_name === NAMES[1] && r.sync_state === 'sync');
      },
      STREAM_TIMEOUT_MS,
      `${NAMES[1]} is the synchronous standby of :${primary.port}`,
      primary,
    );
  } catch (error) {
    process.removeListener('exit', onExit);
    await destroyAll().catch(() => undefined);
    throw error;
  }

  const bin = (node: ThrowawayCluster, name: string) => join(node.binDir, name);

  return {
    nodes,

    multiHostUrl: (database = 'postgres', query?: string) => {
      const hosts = nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
      const search = query ? `?${query.replace(/^\?/, '')}` : '';
      return `postgres://postgres@${hosts}/${database}${search}`;
    },

    kill: async (node) => {
      nameOf(node);
      const pid = livePostmaster(node);
      if (pid === undefined) return;
      // stopped, the postmaster can fork no new child while we collect and kill its tree
      process.kill(pid, 'SIGSTOP');
      let tree = [pid];
      let memory: SharedMemory;
      try {
        tree = processTrees([pid]);
        memory = sharedMemoryOf(node.dataDir, tree);
      } finally {
        for (const victim of [...tree.slice(1), pid]) signal(victim, 'SIGKILL');
      }
      const deadline = performance.now() + 10_000;
      while (tree.some(isLive)) {
        if (performance.now() > deadline) {
          throw new Error(`processes of :${node.port} survived SIGKILL: ${tree.filter(isLive).join(' ')}`);
        }
        await sleep(5);
      }
      releaseSharedMemory(memory);
      // The lock files (postmaster.pid, and the socket's .s.PGSQL.<port>.lock) are left behind
      // as after a machine loss — unless nobody reaps the killed postmaster (an init that does not
      // reap orphans, as in some containers): PostgreSQL would take that zombie's pid for a live
      // postmaster and refuse to start ("lock file … already exists"), so then they go.
      if (isZombie(pid)) {
        rmSync(join(node.dataDir, 'postmaster.pid'), { force: true });
        rmSync(join(node.socketDir, `.s.PGSQL.${node.port}.lock`), { force: true });
      }
    },

    promote: async (node) => {
      nameOf(node);
      try {
        await runAs(bin(node, 'pg_ctl'), ['-D', node.dataDir, '-w', '-t', '60', 'promote'], {
          timeoutMs: COMMAND_TIMEOUT_MS,
        });
      } catch (error) {
        throw failure(`pg_ctl promote of :${node.port} failed`, error, node);
      }
      await waitFor(
        async () => (await query<{ r: boolean }>(node, 'select pg_is_in_recovery() as r'))[0]?.r === false,
        30_000,
        `:${node.port} accepts writes`,
        node,
      );
      return performance.now();
    },

    follow: async (standby, primary) => {
      const name = nameOf(standby);
      nameOf(primary);
      const [recovery] = await query<{ r: boolean }>(standby, 'select pg_is_in_recovery() as r');
      if (recovery?.r !== true) throw new Error(`:${standby.port} is not a standby: it cannot follow :${primary.port}`);
      await query(standby, `alter system set primary_conninfo = ${pg.escapeLiteral(conninfo(primary, name))}`);
      await query(standby, 'select pg_reload_conf()');
      await waitStreaming(standby, primary);
    },

    rejoin: async (node, primary) => {
      const name = nameOf(node);
      nameOf(primary);
      if (livePostmaster(node) !== undefined) {
        // not killed after all: a clean stop spares pg_rewind the crash recovery
        await runAs(bin(node, 'pg_ctl'), ['-D', node.dataDir, '-m', 'fast', '-w', 'stop'], {
          timeoutMs: COMMAND_TIMEOUT_MS,
        });
      }
      // a just-promoted primary's pg_control names its new timeline only after a checkpoint, and
      // pg_rewind reads the timeline from there ("no rewind required" otherwise)
      await query(primary, 'checkpoint');
      try {
        await runAs(
          bin(node, 'pg_rewind'),
          [
            '-D',
            node.dataDir,
            '--source-server',
            `host=127.0.0.1 port=${primary.port} user=postgres dbname=postgres`,
            '--no-sync',
          ],
          { timeoutMs: COMMAND_TIMEOUT_MS },
        );
      } catch (rewindError) {
        try {
          // pg_basebackup wants an empty directory; the parent (owned by the server user) stays
          rmSync(node.dataDir, { recursive: true, force: true });
          await runAs(
            bin(node, 'pg_basebackup'),
            [
              '-h',
              '127.0.0.1',
              '-p',
              String(primary.port),
              '-U',
              'postgres',
              '-D',
              node.dataDir,
              '-X',
              'stream',
              '-c',
              'fast',
              '--no-sync',
            ],
            { timeoutMs: COMMAND_TIMEOUT_MS },
          );
        } catch (backupError) {
          throw failure(
            `rejoining :${node.port}: pg_rewind failed (${message(rewindError)}), and so did pg_basebackup`,
            backupError,
            node,
            primary,
          );
        }
      }
      writeStandbyConfig(node, primary, name);
      try {
        await node.start();
      } catch (error) {
        throw failure(`rejoining :${node.port}: the server did not start as a standby`, error, node);
      }
      await waitStreaming(node, primary);
    },

    setSynchronous: async (primary, names) => {
      nameOf(primary);
      await setSynchronous(primary, names);
    },

    destroy: async () => {
      process.removeListener('exit', onExit);
      await destroyAll();
    },
  };
}
