import { verify, type KeyObject } from 'node:crypto';
import { type Element, Tag, childrenOf, readElement } from './der.ts';

/** RFC 5280 5.3.1 reasonCode. */
const REASON_CODE_OID = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x15]);
const TIME_TAGS = new Set<number>([Tag.utcTime, Tag.generalizedTime]);

/**
 * The certificates a DER CRL lists: serial (lowercase hex, no leading zero bytes, as fingerprint.ts normalizes it) to
 * its reasonCode (0 when absent). With `issuerKey`, the CRL's signature must verify under it, as OpenSSL would insist.
 */
export function crlEntries(der: Uint8Array, issuerKey?: KeyObject): Map<string, number> {
  const [tbs, , signature] = childrenOf(der, readElement(der));
  if (tbs === undefined || signature === undefined) throw new Error('not a CRL');
  if (issuerKey && !verify('sha256', der.subarray(tbs.start, tbs.end), issuerKey, der.subarray(signature.contentStart + 1, signature.end))) {
    throw new Error('the CRL is not signed by its issuer');
  }
  // version?, signature, issuer, thisUpdate, nextUpdate?, revokedCertificates?, [0] extensions?
  const fields = childrenOf(der, tbs);
  let next = fields[0]?.tag === Tag.integer ? 3 : 2;
  if (!TIME_TAGS.has(fields[next]?.tag ?? 0)) throw new Error('not a CRL');
  next += TIME_TAGS.has(fields[next + 1]?.tag ?? 0) ? 2 : 1;
  const revoked = fields[next];
  const entries = new Map<string, number>();
  if (revoked?.tag !== Tag.sequence) return entries;
  for (const entry of childrenOf(der, revoked)) {
    const [serial, , extensions] = childrenOf(der, entry);
    if (serial?.tag !== Tag.integer) throw new Error('a CRL entry without a serial');
    entries.set(serialHex(der.subarray(serial.contentStart, serial.end)), extensions ? reasonCode(der, extensions) : 0);
  }
  return entries;
}

function serialHex(bytes: Uint8Array): string {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  return Buffer.from(bytes.subarray(start)).toString('hex');
}

/** The reasonCode among an entry's extensions (Extension ::= SEQUENCE { OID, critical?, OCTET STRING { ENUMERATED } }). */
function reasonCode(der: Uint8Array, extensions: Element): number {
  for (const extension of childrenOf(der, extensions)) {
    const parts = childrenOf(der, extension);
    const [oid] = parts;
    const value = parts.at(-1);
    if (oid === undefined || value === undefined || !REASON_CODE_OID.equals(der.subarray(oid.start, oid.end))) continue;
    const enumerated = readElement(der, value.contentStart);
    return der[enumerated.contentStart] ?? 0;
  }
  return 0;
}
