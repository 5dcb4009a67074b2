/**
 * A killed PostgreSQL server's shared memory (its System V segment and its DSM files under
 * /dev/shm), found and dropped as a machine loss would drop it: the failover harnesses kill servers
 * with SIGKILL and then delete or replace their data directories, which would otherwise leak it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** A server's System V shared memory segment and the DSM files (/dev/shm/PostgreSQL.*) it maps. */
export interface SharedMemory {
  shmid: number | undefined;
  files: string[];
}

/**
 * The DSM segments a DSM control segment lists (PostgreSQL 14+ layout, as dsm.c's
 * dsm_cleanup_using_control_segment reads it: header {magic, nitems, maxitems} then 40-byte items
 * {handle, refcnt, first_page, npages, impl_private_pm_handle, pinned}); [] when `file` is not one.
 * Segments nobody maps at the moment (pinned ones, such as the statistics' DSA) are found only here.
 */
function listedSegments(file: string): string[] {
  const CONTROL_MAGIC = 0x9a503d32;
  const ITEM_BYTES = 40;
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch {
    return [];
  }
  if (data.length < 16 || data.readUInt32LE(0) !== CONTROL_MAGIC) return [];
  const nitems = data.readUInt32LE(4);
  const maxitems = data.readUInt32LE(8);
  if (nitems > maxitems || data.length < 16 + maxitems * ITEM_BYTES) return [];
  const listed: string[] = [];
  for (let i = 0; i < nitems; i++) {
    const handle = data.readUInt32LE(16 + i * ITEM_BYTES);
    const refcnt = data.readUInt32LE(16 + i * ITEM_BYTES + 4);
    // refcnt 0: a free slot; an odd handle: a piece of the main shared memory, no file
    if (refcnt !== 0 && handle % 2 === 0) listed.push(`/dev/shm/PostgreSQL.${handle}`);
  }
  return listed;
}

/**
 * The shared memory the server of `pgdata` holds: its System V segment (from postmaster.pid) and
 * the DSM files the processes `pids` map.
 */
export function sharedMemoryOf(pgdata: string, pids: readonly number[]): SharedMemory {
  const files = new Set<string>();
  for (const pid of pids) {
    try {
      for (const match of readFileSync(`/proc/${pid}/maps`, 'utf8').matchAll(/\/dev\/shm\/PostgreSQL\.\d+/g)) {
        files.add(match[0]);
      }
    } catch {
      // exited meanwhile
    }
  }
  // line 7 of postmaster.pid: "<shmem key> <shmid>"
  let line = '';
  try {
    line = readFileSync(join(pgdata, 'postmaster.pid'), 'utf8').split('\n')[6] ?? '';
  } catch {
    // no pid file: no segment we know of
  }
  const [, id] = line.trim().split(/\s+/);
  const shmid = id !== undefined && /^\d+$/.test(id) ? Number(id) : undefined;
  return { shmid, files: [...files] };
}

/**
 * Drops a killed server's shared memory, as a machine loss would (PostgreSQL cleans up only the
 * segment its data directory's inode names, so a data directory replaced by pg_basebackup, or
 * deleted while killed, would leak it): the System V segment when nothing is attached any more,
 * and the DSM files (those mapped, and those the DSM control segment lists).
 */
export function releaseSharedMemory(memory: SharedMemory): void {
  const files = new Set([...memory.files, ...memory.files.flatMap(listedSegments)]);
  for (const file of files) rmSync(file, { force: true });
  if (memory.shmid === undefined || !existsSync('/proc/sysvipc/shm')) return;
  // columns: key shmid perms size cpid lpid nattch …
  const row = readFileSync('/proc/sysvipc/shm', 'utf8')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find((cols) => Number(cols[1]) === memory.shmid);
  if (row?.[6] === '0') spawnSync('ipcrm', ['-m', String(memory.shmid)], { stdio: 'ignore', timeout: 10_000 });
}
