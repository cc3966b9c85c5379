import { existsSync, rmSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { writeFileAtomic } from '../pki/ca-files.ts';
import { prepareSqliteFile } from '../db/sqlite-file.ts';
import { BackupError } from './backup-error.ts';

/** How long the snapshot's read waits for a writer's lock (a checkpoint); readers never block in WAL mode. */
const BUSY_TIMEOUT_MS = 10_000;
/** Header bytes 18 and 19 (file format write and read versions): 1 for a rollback journal, 2 for WAL. */
const FORMAT_VERSION_OFFSETS = [18, 19];
const ROLLBACK_JOURNAL_FORMAT = 1;

/**
 * The database file's bytes as of one read transaction (sqlite3_serialize holds it while it copies the pages,
 * WAL frames included), taken beside a running server without stopping its writes and never written to disk.
 * The copy is marked as a rollback-journal database, a whole file by itself (an in-memory image cannot be opened
 * in WAL mode); the server switches it back to WAL when it opens it.
 */
export function snapshotSqlite(path: string): Buffer {
  if (!existsSync(path)) throw new BackupError(`DATABASE_URL names ${path}, which does not exist`);
  const database = new Database(path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  try {
    const bytes = database.serialize();
    for (const offset of FORMAT_VERSION_OFFSETS) bytes[offset] = ROLLBACK_JOURNAL_FORMAT;
    return bytes;
  } finally {
    database.close();
  }
}

/** Refuses bytes that are not a sound SQLite database, before anything is replaced. */
export function checkSqliteSnapshot(bytes: Buffer): void {
  let problems: string;
  try {
    const database = new Database(bytes);
    try {
      problems = (database.pragma('quick_check', { simple: false }) as { quick_check: string }[]).map((row) => row.quick_check).join('; ');
    } finally {
      database.close();
    }
  } catch (error) {
    problems = (error as Error).message;
  }
  if (problems !== 'ok') throw new BackupError(`the backup's SQLite database is damaged: ${problems}`);
}

/**
 * Refuses a target that holds tables (unless `force`) or that another connection has open: a server on it would
 * keep the file it opened and write on, unaware of the restore.
 */
export function checkSqliteTarget(path: string, force: boolean): void {
  if (!existsSync(path) || statSync(path).size === 0) return;
  const database = openTarget(path);
  try {
    refuseWhileOpenElsewhere(database, path);
    const { tables } = database.prepare("select count(*) as tables from sqlite_schema where type = 'table'").get() as { tables: number };
    if (tables > 0 && !force) {
      throw new BackupError(`the database ${path} is not empty (${tables} tables): restore into an empty database, or give --force to replace it`);
    }
  } finally {
    database.close();
  }
}

/**
 * Every connection to a WAL database holds a shared lock on its file while open. A connection in exclusive locking
 * mode from its first access keeps the WAL index in its own memory, which needs an exclusive lock on the file: so
 * it is granted only when no other connection, of any process, has the database open.
 */
function refuseWhileOpenElsewhere(database: Database.Database, path: string): void {
  try {
    database.pragma('locking_mode = exclusive');
    database.exec('begin exclusive; commit');
  } catch (error) {
    if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
    throw new BackupError(`the database ${path} is in use (another process has it open): stop the server before restoring`);
  }
}

/** Replaces the database at `path` with `bytes` (checked by checkSqliteTarget first), mode 0600. */
export function restoreSqlite(path: string, bytes: Buffer): void {
  prepareSqliteFile(path);
  // A journal left beside the old file would be replayed into the new one.
  for (const leftover of [`${path}-wal`, `${path}-shm`, `${path}-journal`]) rmSync(leftover, { force: true });
  writeFileAtomic(path, bytes, 0o600);
}

function openTarget(path: string): Database.Database {
  try {
    return new Database(path, { fileMustExist: true, timeout: 0 });
  } catch (error) {
    throw new BackupError(`cannot open the database ${path}: ${(error as Error).message}`);
  }
}
