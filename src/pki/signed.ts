import { type KeyObject, sign } from 'node:crypto';
import { bitString, oid, sequence } from './der.ts';

/** AlgorithmIdentifier for ecdsa-with-SHA256 (RFC 5758: parameters absent). */
export const ecdsaWithSha256: Buffer = sequence(oid('1.2.840.10045.4.3.2'));

/**
 * Signs a to-be-signed structure with a CA key and wraps it the way certificates and CRLs share:
 * SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }. The TBS must name ecdsa-with-SHA256 too.
 */
export function signedByCa(tbs: Buffer, caKey: KeyObject): Buffer {
  return sequence(tbs, ecdsaWithSha256, bitString(sign('sha256', tbs, caKey)));
}
