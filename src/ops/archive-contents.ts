import { isAbsolute, normalize, sep } from 'node:path';
import type { Dialect } from '../config/database-url.ts';
import { BackupError } from './backup-error.ts';

// What a sealed archive holds: a 4-byte big-endian length, the manifest as JSON, then each part's bytes in the
// manifest's order (the database first, then the files).

/** The database part: a SQLite database file's bytes, or a pg_dump archive in its custom format. */
export interface DatabasePart {
  readonly dialect: Dialect;
  readonly format: 'sqlite-file' | 'pg_dump-custom';
  readonly bytes: Buffer;
}

/** Where a file belongs: under PKI_ROOT_DIR (CA, log key, mTLS ticket secret, DNSSEC keys) or ADMIN_KEY_FILE itself. */
export type FileArea = 'pki' | 'admin-key';

export interface FilePart {
  readonly area: FileArea;
  /** Relative to PKI_ROOT_DIR, with / between directories; empty for the admin key file. */
  readonly path: string;
  /** Permission bits (0600 for keys and secrets). */
  readonly mode: number;
  readonly bytes: Buffer;
}

export interface ArchiveContents {
  readonly atrVersion: string;
  readonly createdAt: string;
  readonly database: DatabasePart;
  readonly files: readonly FilePart[];
}

interface Manifest {
  readonly atrVersion: string;
  readonly createdAt: string;
  readonly database: Omit<DatabasePart, 'bytes'> & { readonly length: number };
  readonly files: readonly (Omit<FilePart, 'bytes'> & { readonly length: number })[];
}

export function packContents(contents: ArchiveContents): Buffer {
  const { bytes: databaseBytes, ...database } = contents.database;
  const manifest: Manifest = {
    atrVersion: contents.atrVersion,
    createdAt: contents.createdAt,
    database: { ...database, length: databaseBytes.length },
    files: contents.files.map(({ bytes, ...file }) => ({ ...file, length: bytes.length })),
  };
  const json = Buffer.from(JSON.stringify(manifest));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  return Buffer.concat([length, json, databaseBytes, ...contents.files.map((file) => file.bytes)]);
}

/**
 * The parts of an opened archive. Its bytes were authenticated, so a mismatch means a bug or a forged key; the
 * checks still hold, since restore writes files where the manifest says.
 */
export function unpackContents(plaintext: Buffer): ArchiveContents {
  const manifest = readManifest(plaintext);
  let offset = 4 + plaintext.readUInt32BE(0);
  const take = (length: number): Buffer => {
    if (!Number.isSafeInteger(length) || length < 0 || offset + length > plaintext.length) throw damaged('a part runs past the end');
    const bytes = plaintext.subarray(offset, offset + length);
    offset += length;
    return bytes;
  };
  const { length: databaseLength, ...database } = manifest.database;
  const contents: ArchiveContents = {
    atrVersion: manifest.atrVersion,
    createdAt: manifest.createdAt,
    database: { ...checkedDatabase(database), bytes: take(databaseLength) },
    files: manifest.files.map(({ length, ...file }) => ({ ...checkedFile(file), bytes: take(length) })),
  };
  if (offset !== plaintext.length) throw damaged('bytes follow the last part');
  return contents;
}

function readManifest(plaintext: Buffer): Manifest {
  if (plaintext.length < 4 || 4 + plaintext.readUInt32BE(0) > plaintext.length) throw damaged('no manifest');
  try {
    return JSON.parse(plaintext.subarray(4, 4 + plaintext.readUInt32BE(0)).toString('utf8')) as Manifest;
  } catch {
    throw damaged('the manifest is not JSON');
  }
}

function checkedDatabase(database: Omit<DatabasePart, 'bytes'>): Omit<DatabasePart, 'bytes'> {
  const known = (database.dialect === 'sqlite' && database.format === 'sqlite-file') || (database.dialect === 'postgresql' && database.format === 'pg_dump-custom');
  if (!known) throw damaged(`unknown database part ${JSON.stringify(database)}`);
  return { dialect: database.dialect, format: database.format };
}

function checkedFile(file: Omit<FilePart, 'bytes'>): Omit<FilePart, 'bytes'> {
  const inside = file.area === 'pki' && file.path !== '' && !isAbsolute(file.path) && !normalize(file.path).split(sep).includes('..');
  if (!inside && !(file.area === 'admin-key' && file.path === '')) throw damaged(`a file outside the restored directories: ${JSON.stringify(file.path)}`);
  if (!Number.isInteger(file.mode) || file.mode < 0 || file.mode > 0o777) throw damaged(`a file mode out of range: ${file.mode}`);
  return { area: file.area, path: file.path, mode: file.mode };
}

const damaged = (why: string) => new BackupError(`the backup's contents are not in the expected form (${why})`);
