import { createPublicKey, type KeyObject } from 'node:crypto';
import { DomainError } from '../errors.ts';

import type { KeyAlgorithm } from './key-algorithm.ts';

export type { KeyAlgorithm };

/** A public key the registry agreed to certify. */
export interface RequestedKey {
  /** DER SubjectPublicKeyInfo, as OpenSSL re-encodes it. */
  readonly publicKey: Buffer;
  readonly algorithm: KeyAlgorithm;
}

const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 8192;
/** NIST SP 800-89 5.3.3: an odd exponent from 65537 up. */
const MIN_RSA_EXPONENT = 65537n;
const CURVES: Record<string, KeyAlgorithm> = { prime256v1: 'EC P-256', secp384r1: 'EC P-384' };
const ACCEPTED_KEYS = `EC P-256, EC P-384, RSA ${MIN_RSA_BITS}-${MAX_RSA_BITS} or Ed25519`;

/**
 * Checks a SubjectPublicKeyInfo against the accepted key types; `field` names the request field in errors. Returns
 * the key to certify and the parsed key, for checking signatures made with it.
 */
export function acceptKey(
  subjectPublicKeyInfo: Uint8Array,
  field: string,
): { key: RequestedKey; publicKey: KeyObject } {
  const named = namedCurveKey(subjectPublicKeyInfo);
  if (named) return named;
  const refuse = (rule: string) => new DomainError('invalid_csr', `${field}: ${rule}`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(subjectPublicKeyInfo), format: 'der', type: 'spki' });
  } catch {
    throw refuse('public key is malformed or not a supported type');
  }
  const algorithm = algorithmOf(key, refuse);
  return { key: { publicKey: key.export({ type: 'spki', format: 'der' }), algorithm }, publicKey: key };
}

/**
 * The SubjectPublicKeyInfo of an uncompressed point on a named curve is one fixed header and the point, which is the
 * form OpenSSL writes back: such a key is read from its coordinates. OpenSSL's DER decoder costs several times as
 * much, the more so at the key's first signature check, which converts a decoded key for the provider that verifies.
 * Reading coordinates still refuses a point that is not on the curve. Any other encoding takes the general path.
 */
function namedCurveKey(spki: Uint8Array): { key: RequestedKey; publicKey: KeyObject } | undefined {
  for (const curve of NAMED_CURVES) {
    if (spki.length !== curve.header.length + 1 + 2 * curve.coordinateBytes) continue;
    if (!curve.header.equals(spki.subarray(0, curve.header.length)) || spki[curve.header.length] !== UNCOMPRESSED) continue;
    const point = spki.subarray(curve.header.length + 1);
    const base64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
    const jwk = { kty: 'EC', crv: curve.jwkName, x: base64url(point.subarray(0, curve.coordinateBytes)), y: base64url(point.subarray(curve.coordinateBytes)) };
    try {
      const publicKey = createPublicKey({ key: jwk, format: 'jwk' });
      return { key: { publicKey: Buffer.from(spki), algorithm: curve.algorithm }, publicKey };
    } catch {
      // Not on the curve: the general path refuses it with its usual words.
      return undefined;
    }
  }
  return undefined;
}

const UNCOMPRESSED = 0x04;
/** SEQUENCE { SEQUENCE { id-ecPublicKey, namedCurve }, BIT STRING (no unused bits) }, up to the point's first byte. */
const NAMED_CURVES: readonly { header: Buffer; coordinateBytes: number; jwkName: string; algorithm: KeyAlgorithm }[] = [
  { header: Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'), coordinateBytes: 32, jwkName: 'P-256', algorithm: 'EC P-256' },
  { header: Buffer.from('3076301006072a8648ce3d020106052b81040022036200', 'hex'), coordinateBytes: 48, jwkName: 'P-384', algorithm: 'EC P-384' },
];

function algorithmOf(key: KeyObject, refuse: (rule: string) => DomainError): KeyAlgorithm {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const algorithm = CURVES[details.namedCurve ?? ''];
      const curve = details.namedCurve ?? '(explicit parameters)';
      if (!algorithm) throw refuse(`EC curve ${curve} is not accepted; use P-256 or P-384`);
      return algorithm;
    }
    case 'rsa': {
      const bits = details.modulusLength ?? 0;
      const exponent = details.publicExponent ?? 0n;
      if (bits < MIN_RSA_BITS) throw refuse(`RSA keys must be at least ${MIN_RSA_BITS} bits`);
      if (bits > MAX_RSA_BITS) throw refuse(`RSA keys must be at most ${MAX_RSA_BITS} bits`);
      if (exponent < MIN_RSA_EXPONENT || exponent % 2n === 0n) {
        throw refuse(`RSA public exponent must be odd and at least ${MIN_RSA_EXPONENT}`);
      }
      return `RSA ${bits}`;
    }
    case 'ed25519':
      return 'Ed25519';
    default:
      throw refuse(`key type ${key.asymmetricKeyType ?? 'unknown'} is not accepted; use ${ACCEPTED_KEYS}`);
  }
}
