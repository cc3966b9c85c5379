import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface CaPaths {
  readonly dir: string;
  readonly rootCert: string;
  readonly rootKey: string;
  readonly intermediateCert: string;
  readonly intermediateKey: string;
  /** One directory per intermediate ever rotated from, or to, named by its serial: `intermediates/<serial>/`. */
  readonly intermediates: string;
  readonly rootCrl: string;
  readonly lock: string;
}

export function caPaths(dir: string): CaPaths {
  return {
    dir,
    rootCert: join(dir, 'root.crt'),
    rootKey: join(dir, 'root.key'),
    intermediateCert: join(dir, 'intermediate.crt'),
    intermediateKey: join(dir, 'intermediate.key'),
    intermediates: join(dir, 'intermediates'),
    rootCrl: join(dir, 'root.crl'),
    lock: join(dir, 'ca.lock'),
  };
}

/** Where the intermediate with this serial (lowercase hex) keeps its certificate and key once a rotation involved it. */
export function intermediatePaths(paths: CaPaths, serial: string): { readonly dir: string; readonly cert: string; readonly key: string } {
  const dir = join(paths.intermediates, serial);
  return { dir, cert: join(dir, 'intermediate.crt'), key: join(dir, 'intermediate.key') };
}

/** The key of the intermediate with this serial: in intermediates/<serial>/, or for the CA's first, never rotated, intermediate.key. */
export function intermediateKeyPath(paths: CaPaths, serial: string): string {
  const own = intermediatePaths(paths, serial).key;
  return existsSync(own) ? own : paths.intermediateKey;
}

export const KEY_FILE_MODE = 0o600;
export const CERT_FILE_MODE = 0o644;

/**
 * Replaces `path` with `data` so that readers see the old file or the whole new one, never part of it: the data
 * goes to a private temporary file in the same directory, is flushed, then renamed over `path`.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode: number): void {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = openSync(temp, 'wx', mode);
    try {
      writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(temp, mode); // the umask may have narrowed or the file system widened the mode
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  syncDirectory(dirname(path));
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
