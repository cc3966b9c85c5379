import { createHash } from 'node:crypto';
import { booleanTrue, childrenOf, implicitPrimitive, octetString, oid, readElement, sequence } from './der.ts';

/** An Extension element (RFC 5280 4.1): extnID, critical when true, extnValue wrapping the DER value. */
export function extension(extnId: Buffer, critical: boolean, value: Uint8Array): Buffer {
  return critical ? sequence(extnId, booleanTrue, octetString(value)) : sequence(extnId, octetString(value));
}

const SUBJECT_KEY_IDENTIFIER = oid('2.5.29.14');

/** RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value, as `openssl` computes it. */
export function keyIdentifier(subjectPublicKeyInfo: Uint8Array): Buffer {
  const spki = readElement(subjectPublicKeyInfo);
  const [, publicKey] = childrenOf(subjectPublicKeyInfo, spki);
  if (!publicKey) throw new Error('SubjectPublicKeyInfo has no subjectPublicKey');
  // Skip the BIT STRING's unused-bits byte.
  const bits = subjectPublicKeyInfo.subarray(publicKey.contentStart + 1, publicKey.end);
  return createHash('sha1').update(bits).digest();
}

export function subjectKeyIdentifier(subjectPublicKeyInfo: Uint8Array): Buffer {
  return extension(SUBJECT_KEY_IDENTIFIER, false, octetString(keyIdentifier(subjectPublicKeyInfo)));
}

const AUTHORITY_KEY_IDENTIFIER = oid('2.5.29.35');

/** authorityKeyIdentifier with the keyIdentifier [0] only. */
export function authorityKeyIdentifier(keyId: Uint8Array): Buffer {
  return extension(AUTHORITY_KEY_IDENTIFIER, false, sequence(implicitPrimitive(0, keyId)));
}
