/**
 * Process trees for the spec harnesses, read from Linux's /proc: which processes live, which
 * descend from which, and killing a whole tree.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** Every process's parent and state, from /proc/<pid>/stat (state 'Z' and 'X' are dead). */
export function processTable(): Map<number, { ppid: number; state: string }> {
  const table = new Map<number, { ppid: number; state: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid …"; comm may hold spaces and parentheses
      const [state = '', ppid = '0'] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(entry), { ppid: Number(ppid), state });
    } catch {
      // exited meanwhile
    }
  }
  return table;
}

/** Whether a process table state is dead: no process, a zombie ('Z') or dead ('X'). */
const isDead = (state: string | undefined): boolean => state === undefined || state === 'Z' || state === 'X';

/** Whether `pid` is a process that is alive (not a zombie). */
export function isLive(pid: number): boolean {
  return !isDead(processTable().get(pid)?.state);
}

/** Whether `pid` is a zombie: exited, and not yet reaped by its parent. */
export function isZombie(pid: number): boolean {
  return processTable().get(pid)?.state === 'Z';
}

/** The live processes among `roots` and all their live descendants (roots first, then breadth-first). */
export function processTrees(roots: number[]): number[] {
  const table = processTable();
  const tree = roots.filter((pid) => !isDead(table.get(pid)?.state));
  for (let i = 0; i < tree.length; i++) {
    for (const [child, { ppid, state }] of table) {
      if (ppid === tree[i] && !isDead(state) && !tree.includes(child)) tree.push(child);
    }
  }
  return tree;
}

/** Sends signal `name` to `pid`; a process that has exited meanwhile is no error. */
export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // exited meanwhile
  }
}

/** SIGKILLs `roots` and their descendants, all SIGSTOPped first so none can fork meanwhile; returns the pids killed. */
export function killTrees(roots: number[]): number[] {
  const stopped = new Set<number>();
  for (let round = 0; round < 50; round++) {
    const fresh = processTrees(roots).filter((pid) => !stopped.has(pid));
    if (fresh.length === 0) break;
    for (const pid of fresh) {
      signal(pid, 'SIGSTOP');
      stopped.add(pid);
    }
  }
  for (const pid of stopped) signal(pid, 'SIGKILL');
  return [...stopped];
}
