import { parseDatabaseUrl } from '../config/database-url.ts';
import type { Config } from '../config/schema.ts';
import { openArchive, sealArchive } from './archive-cipher.ts';
import { type ArchiveContents, packContents, unpackContents } from './archive-contents.ts';
import { checkDatabaseTarget, restoreDatabase, snapshotDatabase } from './database-part.ts';
import { checkStateTargets, collectStateFiles, writeStateFiles } from './state-files.ts';

/** The settings a backup reads and a restore writes: the database, PKI_ROOT_DIR and ADMIN_KEY_FILE. */
export type BackupConfig = Pick<Config, 'databaseUrl' | 'pkiRootDir' | 'adminKeyFile'>;

/** What an archive holds, for the CLI to report. */
export interface BackupSummary {
  readonly createdAt: string;
  readonly atrVersion: string;
  readonly database: { readonly dialect: string; readonly bytes: number };
  readonly files: readonly { readonly name: string; readonly mode: number }[];
}

/**
 * The registry's state sealed under `passphrase`: the database (taken first, so every certificate in it was
 * issued by a CA the files that follow hold), then the PKI files and the admin key. Servers keep running.
 * `atrVersion` is recorded in the archive to tell, at restore, which release wrote it.
 */
export async function createBackup(config: BackupConfig, passphrase: string, atrVersion: string): Promise<{ archive: Buffer; summary: BackupSummary }> {
  const database = await snapshotDatabase(parseDatabaseUrl(config.databaseUrl));
  const contents: ArchiveContents = {
    atrVersion,
    createdAt: new Date().toISOString(),
    database,
    files: collectStateFiles(config),
  };
  return { archive: sealArchive(packContents(contents), passphrase), summary: summarise(contents) };
}

/**
 * Puts a backup's state in place of the configured database and files. Everything is checked first (the
 * passphrase, the archive's integrity, the targets empty and unused, or `force`), so a refusal changes nothing.
 */
export async function restoreBackup(config: BackupConfig, archive: Uint8Array, passphrase: string, force: boolean): Promise<BackupSummary> {
  const contents = unpackContents(openArchive(archive, passphrase));
  const location = parseDatabaseUrl(config.databaseUrl);
  await checkDatabaseTarget(location, contents.database, force);
  checkStateTargets(config, force);
  await restoreDatabase(location, contents.database, force);
  writeStateFiles(config, contents.files);
  return summarise(contents);
}

function summarise(contents: ArchiveContents): BackupSummary {
  return {
    createdAt: contents.createdAt,
    atrVersion: contents.atrVersion,
    database: { dialect: contents.database.dialect, bytes: contents.database.bytes.length },
    files: contents.files.map((file) => ({ name: file.area === 'pki' ? `PKI_ROOT_DIR/${file.path}` : 'ADMIN_KEY_FILE', mode: file.mode })),
  };
}
