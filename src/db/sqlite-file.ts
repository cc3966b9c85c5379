import { chmodSync, closeSync, constants, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** Read and write for the owner only: the file holds API-key hashes, the audit trail and the agents. */
const FILE_MODE = 0o600;
const DIRECTORY_MODE = 0o700;
const GROUP_AND_OTHER = 0o077;

/**
 * Creates the SQLite database file at `path` (and its directory) private to its owner before SQLite opens it.
 * SQLite gives the -wal, -shm and -journal files it creates the database file's permission bits, so they follow.
 */
export function prepareSqliteFile(path: string): void {
  const directory = dirname(path);
  // The umask may have narrowed the mode of a directory created here; one that already existed is left alone.
  if (mkdirSync(directory, { recursive: true, mode: DIRECTORY_MODE }) !== undefined) chmodSync(directory, DIRECTORY_MODE);
  // Created 0600 in one step, so it never exists readable by others; the umask can only narrow the mode further.
  closeSync(openSync(path, constants.O_RDONLY | constants.O_CREAT, FILE_MODE));
  // Earlier versions let SQLite create these files 0644: take away group and other bits, leave the owner's.
  for (const file of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) removeGroupAndOtherAccess(file);
}

function removeGroupAndOtherAccess(path: string): void {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if ((mode & GROUP_AND_OTHER) !== 0) chmodSync(path, mode & 0o7777 & ~GROUP_AND_OTHER);
}
