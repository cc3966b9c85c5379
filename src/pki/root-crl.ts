import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CertificateAuthority } from './ca.ts';
import { CERT_FILE_MODE, caPaths, writeFileAtomic } from './ca-files.ts';
import { readCaKey } from './ca-key.ts';
import { keyIdOf, subjectNameOf } from './certificate.ts';
import { buildCrl } from './crl.ts';

/**
 * The root's CRL, listing nothing (this registry never revokes its intermediate), valid as long as the intermediate.
 * OpenSSL, once given any CRL, wants one for every certificate of a chain (Node sets X509_V_FLAG_CRL_CHECK_ALL), so
 * a listener that checks the intermediate's CRL natively needs this one too. It is signed once, the first time it is
 * needed, and kept as root.crl, so the root key is read at most once in the CA's life, like at its creation.
 * Undefined when neither root.crl nor root.key is in `dir` (the root moved offline before the CRL was made).
 */
export async function emptyRootCrl(
  ca: CertificateAuthority,
  dir: string,
  passphrase: string | undefined,
  now = new Date(),
): Promise<Buffer | undefined> {
  const { rootKey } = caPaths(dir);
  const stored = join(dir, 'root.crl');
  if (existsSync(stored)) return readFileSync(stored);
  if (!existsSync(rootKey)) return undefined;
  // buildCrl signs as "the CA's signer": here the root, with its own name and key identifier.
  const root: CertificateAuthority = {
    ...ca,
    signingKey: readCaKey(rootKey, passphrase || undefined),
    intermediateName: subjectNameOf(ca.root.raw),
    intermediateKeyId: keyIdOf(ca.root),
  };
  const crl = await buildCrl(root, [], {
    crlNumber: BigInt(now.getTime()),
    thisUpdate: now,
    nextUpdate: new Date(Date.parse(ca.intermediate.validTo)),
  });
  writeFileAtomic(stored, crl, CERT_FILE_MODE);
  return crl;
}
