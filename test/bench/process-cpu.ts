// Server CPU time for the benchmark's rows that report it: what a process (and, when asked, every process under it)
// has spent so far, read from Linux /proc.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** /proc counts CPU time in clock ticks (USER_HZ, 100 a second on Linux). */
const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/**
 * User + system CPU time of `pid` so far in ms, with `children` that of every process under it too (cluster
 * workers); undefined where there is no /proc or no such process.
 */
export function processCpuMs(pid: number | undefined, { children = false } = {}): number | undefined {
  if (pid === undefined) return undefined;
  const own = ticksOf(pid);
  if (own === undefined || !children) return own === undefined ? undefined : own * TICK_MS;
  let ticks = own;
  const visit = (parent: number) => {
    for (const child of childrenOf(parent)) {
      ticks += ticksOf(child) ?? 0;
      visit(child);
    }
  };
  visit(pid);
  return ticks * TICK_MS;
}

function ticksOf(pid: number): number | undefined {
  try {
    // The fields after the command name, which is in parentheses and may hold spaces: utime and stime are 14 and 15.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    // Gone meanwhile (or no /proc): what it used is no longer countable.
    return undefined;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) => {
      const listed = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      return listed === '' ? [] : listed.split(' ').map(Number);
    });
  } catch {
    return [];
  }
}
