import { createHash, randomBytes, type X509Certificate } from 'node:crypto';

/** SHA-256 of the DER encoding, lowercase hex: how the registry names a certificate. */
export function fingerprintOf(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** A fingerprint as OpenSSL and Node print it (`AB:CD:…`) in the form fingerprintOf gives: lowercase hex. */
export function fingerprintFromColonHex(colonHex: string): string {
  return colonHex.replaceAll(':', '').toLowerCase();
}

/** The serial number as lowercase hex without colons or leading zero bytes, the form stored and put in CRLs. */
export function serialOf(cert: X509Certificate): string {
  return normalizeSerial(cert.serialNumber);
}

export function normalizeSerial(hex: string): string {
  const digits = hex.replace(/:/g, '').toLowerCase();
  const trimmed = digits.replace(/^(00)+(?=[0-9a-f]{2})/, '');
  return trimmed.length % 2 ? `0${trimmed}` : trimmed;
}

/**
 * 16 random bytes with the high bit cleared (a positive INTEGER) and a non-zero first byte, so every serial is
 * exactly 16 bytes in DER and 32 hex digits: 127 bits of entropy, well above the CA/B Forum's 64.
 */
export function randomSerial(): Buffer {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) || 0x01;
  return serial;
}
