// A certificate's fields read in the browser from its PEM, so the page shows what the certificate itself says
// rather than only what the registry's record says about it.
import * as x509 from '../../pki/x509.ts';
import { type Child, h } from './dom.ts';

export interface CertificateFields {
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 of the DER, lowercase hex: the registry's name for a certificate. */
  readonly fingerprint: string;
  readonly dnsNames: readonly string[];
  readonly uris: readonly string[];
}

/** The fields of each certificate in a PEM bundle, in order (one for a leaf, several for a chain). */
export function certificateFields(pem: string): Promise<CertificateFields[]> {
  return Promise.all(x509.PemConverter.decode(pem).map((der) => fieldsOf(new x509.X509Certificate(der))));
}

async function fieldsOf(certificate: x509.X509Certificate): Promise<CertificateFields> {
  const names = certificate.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
  return {
    subject: certificate.subject,
    issuer: certificate.issuer,
    serial: certificate.serialNumber.toLowerCase(),
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    fingerprint: hex(await certificate.getThumbprint('SHA-256')),
    dnsNames: names.filter((name) => name.type === 'dns').map((name) => name.value),
    uris: names.filter((name) => name.type === 'url').map((name) => name.value),
  };
}

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** A date as a <time> a machine can read and a person in any time zone can too (UTC, to the minute). */
export function dateTime(date: Date): HTMLTimeElement {
  return h('time', { datetime: date.toISOString() }, `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`);
}

/** A definition list of facts; rows whose value is empty are left out. */
export function facts(rows: readonly (readonly [string, Child])[]): HTMLDListElement {
  const shown = rows.filter(([, value]) => !isEmpty(value));
  return h('dl', { class: 'facts' }, shown.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

function isEmpty(value: Child): boolean {
  return value === '' || value === undefined || value === null || value === false || (Array.isArray(value) && value.length === 0);
}

/** Everything about the agent's own certificate. */
export function leafFacts(fields: CertificateFields): HTMLDListElement {
  return facts([
    ['Subject', fields.subject],
    ['DNS names', fields.dnsNames.join(', ')],
    ['URIs', fields.uris.map((uri) => h('code', {}, uri))],
    ['Serial', h('code', {}, fields.serial)],
    ['SHA-256 fingerprint', h('code', {}, fields.fingerprint)],
    ['Not before', dateTime(fields.notBefore)],
    ['Not after', dateTime(fields.notAfter)],
    ['Issuer', fields.issuer],
  ]);
}

/** A CA certificate of a chain, under a heading naming its subject: who vouches for it, and for how long. */
export function caFacts(fields: CertificateFields): HTMLDListElement {
  return facts([
    ['Issuer', fields.issuer],
    ['Not before', dateTime(fields.notBefore)],
    ['Not after', dateTime(fields.notAfter)],
  ]);
}
