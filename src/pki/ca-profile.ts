import type { KeyObject, X509Certificate } from 'node:crypto';
import { distinguishedName, encodeCertificate, keyIdOf, subjectNameOf } from './certificate.ts';
import { authorityKeyIdentifier, subjectKeyIdentifier } from './extension.ts';
import { randomSerial } from './fingerprint.ts';
import { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension } from './x509.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
const BACKDATE_MS = 60 * 1000;
const CA_KEY_USAGE = new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true);

export interface CaCertificateRequest {
  readonly trustDomain: string;
  readonly validityDays: number;
  readonly now: Date;
}

/** The self-signed root: CA, no path length limit, keyCertSign + cRLSign, valid `validityDays`. */
export function rootCertificate(
  key: { publicKey: KeyObject; privateKey: KeyObject },
  request: CaCertificateRequest,
): Buffer {
  const name = distinguishedName({ commonName: 'ATR Root CA', organization: request.trustDomain });
  const spki = key.publicKey.export({ type: 'spki', format: 'der' });
  return encodeCertificate(
    {
      serial: randomSerial(),
      issuer: name,
      subject: name,
      ...validity(request.now, request.validityDays * DAY_MS),
      subjectPublicKeyInfo: spki,
      extensions: [
        Buffer.from(new BasicConstraintsExtension(true, undefined, true).rawData),
        Buffer.from(CA_KEY_USAGE.rawData),
        subjectKeyIdentifier(spki),
      ],
    },
    key.privateKey,
  );
}

/** The intermediate: CA with pathLen 0, valid half the root's validity and never past the root's end. */
export function intermediateCertificate(
  publicKey: KeyObject,
  root: { certificate: X509Certificate; privateKey: KeyObject },
  request: CaCertificateRequest,
): Buffer {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const dates = validity(request.now, (request.validityDays * DAY_MS) / 2);
  const rootEnd = new Date(root.certificate.validTo);
  return encodeCertificate(
    {
      serial: randomSerial(),
      issuer: subjectNameOf(root.certificate.raw),
      subject: distinguishedName({ commonName: 'ATR Intermediate CA', organization: request.trustDomain }),
      notBefore: dates.notBefore,
      notAfter: dates.notAfter < rootEnd ? dates.notAfter : rootEnd,
      subjectPublicKeyInfo: spki,
      extensions: [
        Buffer.from(new BasicConstraintsExtension(true, 0, true).rawData),
        Buffer.from(CA_KEY_USAGE.rawData),
        subjectKeyIdentifier(spki),
        authorityKeyIdentifier(keyIdOf(root.certificate)),
      ],
    },
    root.privateKey,
  );
}

function validity(now: Date, lifetimeMs: number): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(now.getTime() - BACKDATE_MS), notAfter: new Date(now.getTime() + lifetimeMs) };
}
