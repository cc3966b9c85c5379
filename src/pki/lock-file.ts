import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { CaError } from './ca-error.ts';

const POLL_MS = 20;
const WAIT_LIMIT_MS = 60_000;
/** Creating a CA takes milliseconds; a lock this old whose owner we cannot check is left over from a crash. */
const STALE_AFTER_MS = 30_000;

/**
 * Runs `work` while holding `path`, an exclusively created lock file naming its owner (host and pid). Waits while
 * another live process holds it; removes it when its owner is gone. (Two waiters judging the same dead owner's lock
 * at the same instant could both go on; that needs a crash during first-time creation and two exact restarts.)
 */
export async function withLockFile<T>(path: string, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!tryLock(path)) {
    if (isStale(path)) {
      rmSync(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      const owner = ownerOf(path) || 'an unknown process';
      throw new CaError(`${path}: still locked by ${owner} after ${WAIT_LIMIT_MS / 1000} s`);
    }
    await sleep(POLL_MS);
  }
  try {
    return await work();
  } finally {
    rmSync(path, { force: true });
  }
}

function tryLock(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, `${hostname()} ${process.pid}`);
  } finally {
    closeSync(fd);
  }
  return true;
}

function ownerOf(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

function isStale(path: string): boolean {
  const [host, pid] = ownerOf(path).split(' ');
  if (host === hostname() && pid !== undefined && /^\d+$/.test(pid)) return !isAlive(Number(pid));
  try {
    return Date.now() - statSync(path).mtimeMs > STALE_AFTER_MS;
  } catch {
    return false; // released meanwhile
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
