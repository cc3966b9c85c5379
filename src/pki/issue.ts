import { X509Certificate } from 'node:crypto';
import { DomainError } from '../errors.ts';
import { spiffeIdOf } from './spiffe-id.ts';
import type { CertificateAuthority } from './ca.ts';
import { distinguishedName, encodeCertificate, MAX_COMMON_NAME_LENGTH } from './certificate.ts';
import { implicitPrimitive, oid, sequence } from './der.ts';
import { authorityKeyIdentifier, extension, subjectKeyIdentifier } from './extension.ts';
import { fingerprintOf, randomSerial, serialOf } from './fingerprint.ts';
import type { RequestedKey } from './key-policy.ts';
import { toPem } from './pem.ts';
import {
  BasicConstraintsExtension,
  CRLDistributionPointsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
} from './x509.ts';

export interface IssuedCertificate {
  readonly pem: string;
  readonly der: Buffer;
  /** Lowercase hex, no colons: 32 digits. */
  readonly serial: string;
  /** SHA-256 of the DER, lowercase hex. */
  readonly fingerprint: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface IssueRequest {
  /** A name the registry has already validated (DNS rules). */
  readonly agentName: string;
  readonly key: RequestedKey;
  readonly validityDays: number;
  readonly now?: Date | undefined;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Tolerates relying parties whose clocks run a little behind ours. */
const BACKDATE_MS = 60 * 1000;
const SUBJECT_ALT_NAME = oid('2.5.29.17');

/**
 * An agent certificate (SPIFFE X509-SVID compatible) for `request.key`, signed by the current intermediate. Only the
 * serial, names, key and dates change between certificates; everything else is encoded once per intermediate.
 */
export async function issueAgentCertificate(
  ca: CertificateAuthority,
  request: IssueRequest,
): Promise<IssuedCertificate> {
  const { agentName, key, validityDays } = request;
  // The registry validates names (DNS rules); this only keeps a slip from producing mangled IA5Strings.
  if (!/^[\x21-\x7e]{1,253}$/.test(agentName)) {
    throw new DomainError('invalid_argument', 'agent_name: must be 1-253 printable ASCII characters');
  }
  if (!Number.isFinite(validityDays) || validityDays <= 0) {
    throw new DomainError('invalid_argument', `validity_days: must be a positive number of days, got ${validityDays}`);
  }
  // One stat: a rotation made by another process (atr ca rotate-intermediate) is issued from at once.
  ca.refresh();
  const profile = profileOf(ca);
  const now = (request.now ?? new Date()).getTime();
  const notBefore = wholeSeconds(now - BACKDATE_MS);
  // A certificate cannot outlive its issuer: near the intermediate's end, validity is cut short (as step-ca does).
  const notAfter = wholeSeconds(Math.min(now + validityDays * DAY_MS, profile.issuerNotAfter));
  const serial = randomSerial();
  const der = encodeCertificate(
    {
      serial,
      issuer: ca.intermediateName,
      notBefore,
      notAfter,
      subject: distinguishedName({
        organization: ca.trustDomain,
        // X.520 caps CN at 64 characters; longer names live in the SANs only, like every name does anyway.
        commonName: agentName.length <= MAX_COMMON_NAME_LENGTH ? agentName : undefined,
      }),
      subjectPublicKeyInfo: key.publicKey,
      extensions: [
        ...profile.extensions,
        subjectKeyIdentifier(key.publicKey),
        subjectAltName(agentName, spiffeIdOf(ca.trustDomain, agentName)),
      ],
    },
    ca.signingKey,
  );
  return {
    pem: toPem(der, 'CERTIFICATE'),
    der,
    serial: serial.toString('hex'),
    fingerprint: fingerprintOf(der),
    notBefore,
    notAfter,
  };
}

/** A certificate this CA issued earlier, read back from its PEM (an operation keeps the one its issue step signed). */
export function issuedFromPem(pem: string): IssuedCertificate {
  const certificate = new X509Certificate(pem);
  return {
    pem,
    der: certificate.raw,
    serial: serialOf(certificate),
    fingerprint: fingerprintOf(certificate.raw),
    notBefore: new Date(certificate.validFrom),
    notAfter: new Date(certificate.validTo),
  };
}

const wholeSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

/** dNSName [2] and uniformResourceIdentifier [6], both IA5String. */
function subjectAltName(dnsName: string, uri: string): Buffer {
  const ia5 = (text: string) => Buffer.from(text, 'ascii');
  const names = sequence(implicitPrimitive(2, ia5(dnsName)), implicitPrimitive(6, ia5(uri)));
  return extension(SUBJECT_ALT_NAME, false, names);
}

/** What every certificate of one intermediate shares, computed on its first issuance. */
interface LeafProfile {
  /** The intermediate it was made for: a rotation makes a new one. */
  readonly issuer: X509Certificate;
  readonly extensions: readonly Buffer[];
  readonly issuerNotAfter: number;
}

const profiles = new WeakMap<CertificateAuthority, LeafProfile>();

function profileOf(ca: CertificateAuthority): LeafProfile {
  let profile = profiles.get(ca);
  if (profile?.issuer !== ca.intermediate) {
    // Encoded by @peculiar/x509 once per intermediate; only the per-certificate parts are written as bytes.
    const constant = [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.clientAuth, ExtendedKeyUsage.serverAuth]),
      // Each intermediate's CRL at its own URL, so a certificate's distribution point names its issuer's CRL even
      // after a rotation; the CRL URL itself serves the current intermediate's.
      new CRLDistributionPointsExtension([`${ca.crlUrl}/${serialOf(ca.intermediate)}`]),
    ];
    profile = {
      issuer: ca.intermediate,
      extensions: [...constant.map((ext) => Buffer.from(ext.rawData)), authorityKeyIdentifier(ca.intermediateKeyId)],
      issuerNotAfter: Date.parse(ca.intermediate.validTo),
    };
    profiles.set(ca, profile);
  }
  return profile;
}
