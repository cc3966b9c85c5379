// Compact JWS (RFC 7515) as agents' tokens use it: parsing, the accepted algorithms, and signature checks by jose.
// Pure functions: no registry state, no clock. Anything not understood is refused, never skipped.
import { createHash, type KeyObject } from 'node:crypto';
import { compactVerify, errors } from 'jose';
import { jsonDepth, MAX_JSON_DEPTH } from '../json-depth.ts';

export type JwsAlgorithm = 'ES256' | 'EdDSA' | 'RS256';

/** Tokens are short-lived proofs of possession: exp may be at most this long after iat. */
export const MAX_TOKEN_LIFETIME_SECONDS = 300;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A token that is not well formed, or uses an algorithm or header this registry does not accept. */
export class JwsError extends Error {
  override readonly name = 'JwsError';
}

/** The header and payload of a compact JWS, decoded but not checked (the signature part is only checked to be base64url). */
export interface DecodedJws {
  readonly header: JsonObject;
  readonly payload: JsonObject;
}

/** Which certificate signed: its registry fingerprint (x5t#S256) and/or the DER chain it sent (x5c, leaf first). */
export interface TokenKeyReference {
  /** Lowercase hex SHA-256 of the certificate DER, the form the registry stores. */
  readonly fingerprint?: string | undefined;
  readonly chain?: readonly Buffer[] | undefined;
}

export interface TokenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud: readonly string[];
  /** Seconds since the epoch, as in the token. */
  readonly exp: number;
  readonly iat: number;
  readonly nbf?: number | undefined;
  readonly jti: string;
}

export interface ParsedToken {
  readonly alg: JwsAlgorithm;
  readonly key: TokenKeyReference;
  readonly claims: TokenClaims;
  /** Every claim, as sent. */
  readonly payload: JsonObject;
}

/** How a signature check ended when the token was well formed: jose verified it, or the signature or its alg is wrong. */
export type SignatureCheck = 'verified' | 'bad_signature' | 'wrong_algorithm';

const ALGORITHMS: readonly JwsAlgorithm[] = ['ES256', 'EdDSA', 'RS256'];
/** Headers that would make the verifier fetch or trust a key the token itself names (or change how it is read). */
const REFUSED_HEADERS = ['jku', 'x5u', 'jwk', 'crit', 'b64'] as const;
/** The range of a JavaScript Date, in seconds: every time claim converts to a valid Date. */
const MAX_DATE_SECONDS = 8.64e12;
/** iss, sub and jti: a name is at most 253 characters, an id needs far fewer. */
const MAX_CLAIM_LENGTH = 256;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The header, payload and signature of a compact JWS; throws JwsError when it is not one. */
export function decodeJws(token: string): DecodedJws {
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwsError(`a compact JWS has 3 dot-separated parts, this has ${parts.length}`);
  const [header, payload, signature] = parts as [string, string, string];
  fromBase64url(signature, 'signature');
  return { header: jsonObjectOf(header, 'header'), payload: jsonObjectOf(payload, 'payload') };
}

/** A token whose header and claims have the shape the registry requires; signature and values not yet checked. */
export function parseToken(token: string): ParsedToken {
  const { header, payload } = decodeJws(token);
  return { alg: algorithmOf(header), key: keyReferenceOf(header), claims: claimsOf(payload), payload };
}

/** The algorithm a key signs with, or undefined for keys tokens cannot use (EC curves other than P-256, ...). */
export function algorithmForKey(key: KeyObject): JwsAlgorithm | undefined {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'ES256' : undefined;
    case 'ed25519':
      return 'EdDSA';
    case 'rsa':
      return 'RS256';
    default:
      return undefined;
  }
}

/**
 * Checks a token parseToken accepted against the certificate's public key with jose. The key decides the algorithm,
 * not the token: jose is allowed only the key's own, so a token naming another is 'wrong_algorithm'. Throws JwsError
 * when the key cannot check tokens at all (a type or size jose refuses).
 */
export async function verifySignature(token: string, key: KeyObject): Promise<SignatureCheck> {
  const alg = algorithmForKey(key);
  if (!alg) return 'wrong_algorithm';
  try {
    // crit: no extension is understood, so jose refuses any (parseToken already refuses the header outright).
    await compactVerify(token, key, { algorithms: [alg], crit: {} });
    return 'verified';
  } catch (error) {
    if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad_signature';
    if (error instanceof errors.JOSEAlgNotAllowed) return 'wrong_algorithm';
    if (error instanceof errors.JOSEError || error instanceof TypeError) throw new JwsError(error.message);
    throw error;
  }
}

/** RFC 7515 x5t#S256: base64url of the SHA-256 of the certificate DER. */
export function thumbprintOf(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('base64url');
}

function algorithmOf(header: JsonObject): JwsAlgorithm {
  const alg = header.alg;
  if (typeof alg !== 'string') throw new JwsError('header alg is required');
  // none and every HMAC (HS256 keyed with a public key is the classic confusion) fall here with anything unknown.
  if (!(ALGORITHMS as readonly string[]).includes(alg)) {
    throw new JwsError(`alg ${JSON.stringify(alg)} is not accepted; use ${ALGORITHMS.join(', ')}`);
  }
  for (const name of REFUSED_HEADERS) {
    if (name in header) throw new JwsError(`header ${name} is not accepted; keys come only from the registry`);
  }
  return alg as JwsAlgorithm;
}

function keyReferenceOf(header: JsonObject): TokenKeyReference {
  const thumbprint = header['x5t#S256'];
  const x5c = header.x5c;
  if (thumbprint === undefined && x5c === undefined) throw new JwsError('header needs x5t#S256 or x5c to name the certificate');
  let fingerprint: string | undefined;
  if (thumbprint !== undefined) {
    if (typeof thumbprint !== 'string') throw new JwsError('header x5t#S256 must be a string');
    const digest = fromBase64url(thumbprint, 'header x5t#S256');
    if (digest.length !== 32) throw new JwsError('header x5t#S256 must be a SHA-256 digest (32 bytes)');
    fingerprint = digest.toString('hex');
  }
  let chain: Buffer[] | undefined;
  if (x5c !== undefined) {
    if (!Array.isArray(x5c) || x5c.length === 0) throw new JwsError('header x5c must be a non-empty array');
    chain = x5c.map((entry) => {
      // RFC 7515 4.1.6: standard base64 (not base64url) DER.
      if (typeof entry !== 'string' || entry.length === 0 || !BASE64.test(entry)) {
        throw new JwsError('header x5c entries must be base64 DER certificates');
      }
      return Buffer.from(entry, 'base64');
    });
  }
  return { fingerprint, chain };
}

function claimsOf(payload: JsonObject): TokenClaims {
  const text = (name: string): string => {
    const value = payload[name];
    if (typeof value !== 'string' || value === '') throw new JwsError(`claim ${name} is required and must be a string`);
    // jti is stored in the audit trail, and iss/sub are compared with names: printable, well-formed and short.
    if (value.length > MAX_CLAIM_LENGTH || /[\p{Cc}\p{Cf}\p{Cs}]/u.test(value)) {
      throw new JwsError(`claim ${name} must be at most ${MAX_CLAIM_LENGTH} characters, without control characters`);
    }
    return value;
  };
  const seconds = (name: string): number => {
    const value = payload[name];
    if (typeof value !== 'number' || !(Math.abs(value) <= MAX_DATE_SECONDS)) {
      throw new JwsError(`claim ${name} is required and must be a number of seconds since the epoch`);
    }
    return value;
  };
  const aud = payload.aud;
  const audiences = typeof aud === 'string' ? [aud] : aud;
  if (!Array.isArray(audiences) || audiences.length === 0 || !audiences.every((entry) => typeof entry === 'string')) {
    throw new JwsError('claim aud is required and must be a string or an array of strings');
  }
  return {
    iss: text('iss'),
    sub: text('sub'),
    aud: audiences as string[],
    exp: seconds('exp'),
    iat: seconds('iat'),
    nbf: payload.nbf === undefined ? undefined : seconds('nbf'),
    jti: text('jti'),
  };
}

function jsonObjectOf(part: string, what: string): JsonObject {
  let value: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(fromBase64url(part, what));
    // The claims come back as a protobuf Struct, whose converters recurse: bound the depth before anything does.
    if (jsonDepth(text) > MAX_JSON_DEPTH) throw new JwsError(`${what} nests deeper than ${MAX_JSON_DEPTH} levels`);
    value = JSON.parse(text);
  } catch (error) {
    if (error instanceof JwsError) throw error;
    throw new JwsError(`${what} is not UTF-8 JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new JwsError(`${what} must be a JSON object`);
  return value as JsonObject;
}

/** Unpadded base64url in its one canonical form (Buffer alone would accept padding, '+', '/' and stray bits). */
function fromBase64url(text: string, what: string): Buffer {
  const bytes = Buffer.from(text, 'base64url');
  if (!BASE64URL.test(text) || bytes.toString('base64url') !== text) throw new JwsError(`${what} is not base64url`);
  return bytes;
}
