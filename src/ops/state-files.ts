import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { writeFileAtomic } from '../pki/ca-files.ts';
import type { FilePart } from './archive-contents.ts';
import { BackupError } from './backup-error.ts';

/** Where the server keeps the files a backup carries besides the database. */
export interface StateLocations {
  /** PKI_ROOT_DIR: CA certificates and keys, the log's signing key, the mTLS ticket secret, DNSSEC keys. */
  readonly pkiRootDir: string;
  /** ADMIN_KEY_FILE: the bootstrap admin API key, when API keys are on. */
  readonly adminKeyFile: string;
}

/** Lock files and half-written temporaries belong to a moment, not to the state. */
const TRANSIENT = /\.(lock|tmp)$/;
const DIRECTORY_MODE = 0o700;

/** Every regular file under PKI_ROOT_DIR, and the admin key file when it exists, with its permission bits. */
export function collectStateFiles(locations: StateLocations): FilePart[] {
  if (!existsSync(locations.pkiRootDir)) throw new BackupError(`PKI_ROOT_DIR ${locations.pkiRootDir} does not exist: is this the server's configuration?`);
  const files = walk(locations.pkiRootDir).map((path): FilePart => ({
    area: 'pki',
    path: relative(locations.pkiRootDir, path).split(sep).join('/'),
    ...contentAndMode(path),
  }));
  if (existsSync(locations.adminKeyFile)) files.push({ area: 'admin-key', path: '', ...contentAndMode(locations.adminKeyFile) });
  return files;
}

/** Refuses, before anything changes, a PKI_ROOT_DIR that holds files or an admin key file that exists (unless `force`). */
export function checkStateTargets(locations: StateLocations, force: boolean): void {
  if (force) return;
  const present = existsSync(locations.pkiRootDir) ? walk(locations.pkiRootDir) : [];
  if (present.length > 0) {
    throw new BackupError(`PKI_ROOT_DIR ${locations.pkiRootDir} is not empty (${present.length} files): restore into an empty directory, or give --force to replace its files`);
  }
  if (existsSync(locations.adminKeyFile)) {
    throw new BackupError(`ADMIN_KEY_FILE ${locations.adminKeyFile} exists: move it away, or give --force to replace it`);
  }
}

/** Writes each file whole (never partly) with its mode; directories are created private to the owner. */
export function writeStateFiles(locations: StateLocations, files: readonly FilePart[]): void {
  for (const file of files) {
    const path = file.area === 'pki' ? join(locations.pkiRootDir, ...file.path.split('/')) : locations.adminKeyFile;
    mkdirSync(dirname(path), { recursive: true, mode: DIRECTORY_MODE });
    writeFileAtomic(path, file.bytes, file.mode);
  }
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return walk(path);
    return entry.isFile() && !TRANSIENT.test(entry.name) ? [path] : [];
  });
}

function contentAndMode(path: string): { bytes: Buffer; mode: number } {
  return { bytes: readFileSync(path), mode: lstatSync(path).mode & 0o777 };
}
