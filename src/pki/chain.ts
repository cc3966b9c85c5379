import type { X509Certificate } from 'node:crypto';
import type { CertificateAuthority, Intermediate } from './ca.ts';

const verifiedByRoot = new WeakMap<Intermediate, boolean>();

/**
 * True when OpenSSL agrees that one of the registry's intermediates (the current one or an earlier one not yet
 * expired) issued and signed `leaf` and that the root signed that intermediate. Names alone prove nothing: a foreign
 * CA with identical names fails the signature check.
 */
export function isIssuedByRegistry(ca: CertificateAuthority, leaf: X509Certificate): boolean {
  return issuerOf(ca, leaf) !== undefined;
}

/**
 * The intermediate that issued `leaf`. When none of those known did, the CA is refreshed once: another process may
 * have rotated the intermediate and issued `leaf` from the new one before this process's next look at the files.
 */
export function issuerOf(ca: CertificateAuthority, leaf: X509Certificate): Intermediate | undefined {
  const find = () => ca.intermediates.find((intermediate) => issued(ca, intermediate, leaf));
  return find() ?? (ca.refresh() ? find() : undefined);
}

function issued(ca: CertificateAuthority, intermediate: Intermediate, leaf: X509Certificate): boolean {
  return verifiedIntermediate(ca, intermediate) && leaf.checkIssued(intermediate.certificate) && leaf.verify(intermediate.certificate.publicKey);
}

function verifiedIntermediate(ca: CertificateAuthority, intermediate: Intermediate): boolean {
  let verified = verifiedByRoot.get(intermediate);
  if (verified === undefined) {
    verified = intermediate.certificate.checkIssued(ca.root) && intermediate.certificate.verify(ca.root.publicKey);
    verifiedByRoot.set(intermediate, verified);
  }
  return verified;
}
