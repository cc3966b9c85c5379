import type { X509Certificate } from 'node:crypto';
import type { CertificateAuthority } from './ca.ts';

const intermediateVerified = new WeakMap<CertificateAuthority, boolean>();

/**
 * True when OpenSSL agrees that the intermediate issued and signed `leaf` and that the root signed the
 * intermediate. Names alone prove nothing: a foreign CA with identical names fails the signature check.
 */
export function isIssuedByRegistry(ca: CertificateAuthority, leaf: X509Certificate): boolean {
  return (
    verifiedIntermediate(ca) && leaf.checkIssued(ca.intermediate) && leaf.verify(ca.intermediate.publicKey)
  );
}

function verifiedIntermediate(ca: CertificateAuthority): boolean {
  let verified = intermediateVerified.get(ca);
  if (verified === undefined) {
    verified = ca.intermediate.checkIssued(ca.root) && ca.intermediate.verify(ca.root.publicKey);
    intermediateVerified.set(ca, verified);
  }
  return verified;
}
