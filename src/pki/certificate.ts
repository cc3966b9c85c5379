import type { KeyObject, X509Certificate } from 'node:crypto';
import {
  childrenOf,
  explicit,
  oid,
  readElement,
  sequence,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
} from './der.ts';
import { keyIdentifier } from './extension.ts';
import { ecdsaWithSha256, signedByCa } from './signed.ts';
import { X509Certificate as PeculiarCertificate, SubjectKeyIdentifierExtension } from './x509.ts';

export interface CertificateFields {
  /** Big-endian magnitude of the (positive) serial number. */
  readonly serial: Uint8Array;
  /** DER Name of the issuer, byte for byte the issuer certificate's subject. */
  readonly issuer: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DER Name of the subject. */
  readonly subject: Uint8Array;
  /** DER SubjectPublicKeyInfo of the certified key. */
  readonly subjectPublicKeyInfo: Uint8Array;
  /** DER Extension elements, in order. */
  readonly extensions: readonly Uint8Array[];
}

/** An X.509 v3 certificate (RFC 5280 4.1) signed ECDSA-SHA256 by `issuerKey`, as DER. */
export function encodeCertificate(fields: CertificateFields, issuerKey: KeyObject): Buffer {
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(fields.serial),
    ecdsaWithSha256,
    fields.issuer,
    sequence(time(fields.notBefore), time(fields.notAfter)),
    fields.subject,
    fields.subjectPublicKeyInfo,
    explicit(3, sequence(...fields.extensions)),
  );
  return signedByCa(tbs, issuerKey);
}

const COMMON_NAME = oid('2.5.4.3');
const ORGANIZATION = oid('2.5.4.10');
/** X.520 ub-common-name. */
export const MAX_COMMON_NAME_LENGTH = 64;

/** A DER Name: O=<organization>, then CN=<commonName> (most significant first, as `openssl` prints it). */
export function distinguishedName(names: { commonName?: string | undefined; organization: string }): Buffer {
  const rdns = [set(sequence(ORGANIZATION, utf8String(names.organization)))];
  if (names.commonName !== undefined) rdns.push(set(sequence(COMMON_NAME, utf8String(names.commonName))));
  return sequence(...rdns);
}

/** The subject Name of a DER certificate, byte for byte (to name it as issuer without re-encoding). */
export function subjectNameOf(certificateDer: Uint8Array): Buffer {
  const [tbs] = childrenOf(certificateDer, readElement(certificateDer));
  if (!tbs) throw new Error('certificate has no tbsCertificate');
  const fields = childrenOf(certificateDer, tbs);
  const hasVersion = fields[0]?.tag === 0xa0;
  const subject = fields[hasVersion ? 5 : 4];
  if (!subject) throw new Error('certificate has no subject');
  return Buffer.from(certificateDer.subarray(subject.start, subject.end));
}

/** The certificate's subjectKeyIdentifier, or the RFC 5280 method (1) identifier of its key when it has none. */
export function keyIdOf(certificate: X509Certificate): Buffer {
  const ski = new PeculiarCertificate(certificate.raw).getExtension(SubjectKeyIdentifierExtension);
  if (ski) return Buffer.from(ski.keyId, 'hex');
  return keyIdentifier(certificate.publicKey.export({ type: 'spki', format: 'der' }));
}
