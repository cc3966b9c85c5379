import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { CaError } from './ca-error.ts';
import { CERT_FILE_MODE, type CaPaths, KEY_FILE_MODE, caPaths, intermediatePaths, writeFileAtomic } from './ca-files.ts';
import { readCaKey, writeCaKey } from './ca-key.ts';
import { intermediateCertificate } from './ca-profile.ts';
import { loadRoot, readCertificate } from './ca.ts';
import { serialOf } from './fingerprint.ts';
import { generateP256KeyPair } from './keys.ts';
import { withLockFile } from './lock-file.ts';
import { toPem } from './pem.ts';
import { writeRootCrl } from './root-crl.ts';

export interface RotationRequest {
  /** PKI_ROOT_DIR of the servers. */
  readonly dir: string;
  /** Where the root's key is: by default root.key in `dir`; a root kept offline is brought in for this only. */
  readonly rootKeyPath?: string | undefined;
  /** Decrypts the root's key (undefined: it is not encrypted). */
  readonly rootPassphrase: string | undefined;
  /** Encrypts the new intermediate's key as the servers read it (CA_KEY_PASSPHRASE), and reads the current one's. */
  readonly passphrase: string | undefined;
  readonly trustDomain: string;
  /** CA_VALIDITY_DAYS: the new intermediate gets half, and never past the root's end. */
  readonly validityDays: number;
  readonly now?: Date | undefined;
}

export interface Rotation {
  readonly previous: X509Certificate;
  readonly next: X509Certificate;
}

/**
 * Issues a new intermediate from the root and makes it the current one: every process on `dir` issues from it after
 * its next refresh (ca.ts), while the previous one stays in intermediates/<serial>/ with its key, trusted and
 * signing its CRL until its last certificate expires. Holds the CA's lock file, so a rotation and a first-time
 * creation never overlap. Files are written so that a process reading at any instant sees the old CA or the new one:
 * everything the new intermediate needs first, intermediate.crt (what readers go by) last.
 */
export async function rotateIntermediate(request: RotationRequest): Promise<Rotation> {
  const paths = caPaths(request.dir);
  if (!existsSync(paths.intermediateCert)) {
    throw new CaError(`${paths.intermediateCert}: no CA there to rotate (start the server once to create it)`);
  }
  return withLockFile(paths.lock, async () => {
    const root = loadRoot(paths, request.rootPassphrase, request.rootKeyPath);
    const previous = readCertificate(paths.intermediateCert);
    keepPrevious(paths, previous, request.passphrase);
    const now = request.now ?? new Date();
    const key = await generateP256KeyPair();
    const next = new X509Certificate(intermediateCertificate(key.publicKey, root, { trustDomain: request.trustDomain, validityDays: request.validityDays, now }));
    const pem = toPem(next.raw, 'CERTIFICATE');
    const own = intermediatePaths(paths, serialOf(next));
    mkdirSync(own.dir, { recursive: true, mode: 0o700 });
    writeCaKey(own.key, key.privateKey, request.passphrase);
    writeFileAtomic(own.cert, pem, CERT_FILE_MODE);
    // The root's CRL must stay valid as long as the newest intermediate, for listeners that check the whole chain.
    await writeRootCrl(paths, root, new Date(next.validTo), now);
    writeCaKey(paths.intermediateKey, key.privateKey, request.passphrase);
    writeFileAtomic(paths.intermediateCert, pem, CERT_FILE_MODE);
    return { previous, next };
  });
}

/**
 * Copies the current intermediate (the CA's first, kept as intermediate.crt and .key only) into intermediates/<serial>/
 * before intermediate.* are replaced; its key must match, since it goes on signing the intermediate's CRL.
 */
function keepPrevious(paths: CaPaths, previous: X509Certificate, passphrase: string | undefined): void {
  const own = intermediatePaths(paths, serialOf(previous));
  if (existsSync(own.cert) && existsSync(own.key)) return;
  const key = readCaKey(paths.intermediateKey, passphrase);
  if (!previous.checkPrivateKey(key)) throw new CaError(`${paths.intermediateKey} does not match ${paths.intermediateCert}`);
  mkdirSync(own.dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(own.key, readFileSync(paths.intermediateKey), KEY_FILE_MODE);
  writeFileAtomic(own.cert, toPem(previous.raw, 'CERTIFICATE'), CERT_FILE_MODE);
}
