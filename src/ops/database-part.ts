import type { DatabaseLocation } from '../config/database-url.ts';
import type { DatabasePart } from './archive-contents.ts';
import { BackupError } from './backup-error.ts';
import { checkPostgresTarget, dumpPostgres, restorePostgres } from './postgres-dump.ts';
import { checkSqliteSnapshot, checkSqliteTarget, restoreSqlite, snapshotSqlite } from './sqlite-snapshot.ts';

/** A consistent copy of the database DATABASE_URL names, taken while servers keep using it. */
export async function snapshotDatabase(location: DatabaseLocation): Promise<DatabasePart> {
  if (location.target === ':memory:') throw new BackupError('DATABASE_URL is an in-memory SQLite database: there is nothing on disk to back up');
  return location.dialect === 'sqlite'
    ? { dialect: 'sqlite', format: 'sqlite-file', bytes: snapshotSqlite(location.target) }
    : { dialect: 'postgresql', format: 'pg_dump-custom', bytes: await dumpPostgres(location.target) };
}

/** Refuses, before anything changes, a part of another dialect, a damaged part, or a target that is not empty or in use. */
export async function checkDatabaseTarget(location: DatabaseLocation, part: DatabasePart, force: boolean): Promise<void> {
  if (part.dialect !== location.dialect) {
    throw new BackupError(`the backup holds a ${part.dialect} database but DATABASE_URL names a ${location.dialect} one`);
  }
  if (location.target === ':memory:') throw new BackupError('DATABASE_URL is an in-memory SQLite database: a restore into it would be lost at once');
  if (location.dialect === 'sqlite') {
    checkSqliteSnapshot(part.bytes);
    checkSqliteTarget(location.target, force);
  } else {
    await checkPostgresTarget(location.target, force);
  }
}

/** Loads the part into the database (checked by checkDatabaseTarget first). */
export async function restoreDatabase(location: DatabaseLocation, part: DatabasePart, force: boolean): Promise<void> {
  if (location.dialect === 'sqlite') restoreSqlite(location.target, part.bytes);
  else await restorePostgres(location.target, part.bytes, force);
}
