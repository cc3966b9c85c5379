import { type X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { CaError } from './ca-error.ts';
import { type CaPaths, caPaths, intermediateKeyPath, intermediatePaths } from './ca-files.ts';
import { earlierIntermediates, readCertificate } from './ca.ts';
import { readElement } from './der.ts';
import { fingerprintOf, serialOf } from './fingerprint.ts';
import { X509Crl } from './x509.ts';

/** How a CA private key is kept: `absent` when its file is not in the PKI directory (for the root: kept offline). */
export interface KeyProtection {
  readonly file: string;
  readonly state: 'encrypted' | 'unencrypted' | 'absent';
  /** Permission bits, e.g. `0600`; undefined when absent. */
  readonly mode?: string | undefined;
}

export interface CaCertificateStatus {
  readonly subject: string;
  readonly serial: string;
  /** SHA-256 of the DER, lowercase hex. */
  readonly fingerprint: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly key: KeyProtection;
}

export interface IntermediateStatus extends CaCertificateStatus {
  /** The one new certificates come from; the others only sign their CRLs until they expire. */
  readonly current: boolean;
}

export interface CrlStatus {
  readonly crlNumber: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly entries: number;
}

export interface CaStatus {
  readonly dir: string;
  readonly root: CaCertificateStatus;
  /** The current intermediate first, then earlier ones not yet expired, as the server loads them. */
  readonly intermediates: readonly IntermediateStatus[];
  /** root.crl, when it has been signed (lazily, or at the last rotation). */
  readonly rootCrl: CrlStatus | undefined;
}

const ENCRYPTED_LABEL = '-----BEGIN ENCRYPTED PRIVATE KEY-----';
const CRL_NUMBER = '2.5.29.20';

/**
 * What PKI_ROOT_DIR holds, read from its files alone: certificates and how their keys are kept, without decrypting
 * any key (no passphrase needed), for `atr ca status`.
 */
export function readCaStatus(dir: string, now = new Date()): CaStatus {
  const paths = caPaths(dir);
  if (!existsSync(paths.intermediateCert)) throw new CaError(`no CA in ${dir} (PKI_ROOT_DIR): the server creates it at its first start`);
  const root = readCertificate(paths.rootCert);
  const current = readCertificate(paths.intermediateCert);
  const currentSerial = serialOf(current);
  const earlier = earlierIntermediates(paths, currentSerial, now);
  return {
    dir,
    root: certificateStatus(paths, root, paths.rootKey),
    intermediates: [
      { ...certificateStatus(paths, current, intermediateKeyPath(paths, currentSerial)), current: true },
      ...earlier.map((certificate) => ({ ...certificateStatus(paths, certificate, intermediatePaths(paths, serialOf(certificate)).key), current: false })),
    ],
    rootCrl: existsSync(paths.rootCrl) ? crlStatus(readFileSync(paths.rootCrl)) : undefined,
  };
}

/** The CRL number, dates and entry count of a DER CRL. */
export function crlStatus(der: Uint8Array): CrlStatus {
  const crl = new X509Crl(der);
  const number = crl.extensions.find((extension) => extension.type === CRL_NUMBER);
  let crlNumber = -1n;
  if (number !== undefined) {
    const value = new Uint8Array(number.value);
    const integer = readElement(value);
    crlNumber = BigInt(`0x${Buffer.from(value.subarray(integer.contentStart, integer.end)).toString('hex') || '0'}`);
  }
  return { crlNumber, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, entries: crl.entries.length };
}

function certificateStatus(paths: CaPaths, certificate: X509Certificate, keyPath: string): CaCertificateStatus {
  return {
    subject: certificate.subject.split('\n').reverse().join(', '),
    serial: serialOf(certificate),
    fingerprint: fingerprintOf(certificate.raw),
    notBefore: new Date(certificate.validFrom),
    notAfter: new Date(certificate.validTo),
    key: keyProtection(paths, keyPath),
  };
}

function keyProtection(paths: CaPaths, keyPath: string): KeyProtection {
  const file = keyPath.startsWith(`${paths.dir}/`) ? keyPath.slice(paths.dir.length + 1) : keyPath;
  if (!existsSync(keyPath)) return { file, state: 'absent' };
  const mode = `0${(statSync(keyPath).mode & 0o777).toString(8)}`;
  return { file, state: readFileSync(keyPath, 'utf8').includes(ENCRYPTED_LABEL) ? 'encrypted' : 'unencrypted', mode };
}
