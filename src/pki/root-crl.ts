import { existsSync, readFileSync } from 'node:fs';
import { type CertificateAuthority, loadRoot, type Root } from './ca.ts';
import { CERT_FILE_MODE, type CaPaths, caPaths, writeFileAtomic } from './ca-files.ts';
import { keyIdOf, subjectNameOf } from './certificate.ts';
import { buildCrl } from './crl.ts';

/**
 * The root's CRL, listing nothing (this registry never revokes an intermediate), valid as long as the latest
 * intermediate. OpenSSL, once given any CRL, wants one for every certificate of a chain (Node sets
 * X509_V_FLAG_CRL_CHECK_ALL), so a listener that checks the intermediate's CRL natively needs this one too. It is
 * signed the first time it is needed, and again at each intermediate rotation (the root key is at hand then), and
 * kept as root.crl, so the root key is read only at the CA's creation and at rotations.
 * Undefined when neither root.crl nor root.key is in `dir` (the root moved offline before the CRL was made).
 */
export async function emptyRootCrl(
  ca: CertificateAuthority,
  dir: string,
  passphrase: string | undefined,
  now = new Date(),
): Promise<Buffer | undefined> {
  const paths = caPaths(dir);
  if (existsSync(paths.rootCrl)) return readFileSync(paths.rootCrl);
  if (!existsSync(paths.rootKey)) return undefined;
  const lastEnd = Math.max(...ca.intermediates.map((each) => Date.parse(each.certificate.validTo)));
  return writeRootCrl(paths, loadRoot(paths, passphrase || undefined), new Date(lastEnd), now);
}

/** Signs root.crl with the root's key, listing nothing, valid until `validUntil`; returns its DER. */
export async function writeRootCrl(paths: CaPaths, root: Root, validUntil: Date, now = new Date()): Promise<Buffer> {
  const signer = { signingKey: root.privateKey, intermediateName: subjectNameOf(root.certificate.raw), intermediateKeyId: keyIdOf(root.certificate) };
  const crl = await buildCrl(signer, [], { crlNumber: BigInt(now.getTime()), thisUpdate: now, nextUpdate: validUntil });
  writeFileAtomic(paths.rootCrl, crl, CERT_FILE_MODE);
  return crl;
}
