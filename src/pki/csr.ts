import { constants, type KeyObject, verify } from 'node:crypto';
import { DomainError } from '../errors.ts';
import { childrenOf, type Element, readElement, Tag } from './der.ts';
import { derProblemOf, derRule } from './der-structure.ts';
import { acceptKey, type RequestedKey } from './key-policy.ts';
import { decodeOnePem } from './pem.ts';
import { Pkcs10CertificateRequest } from './x509.ts';

export type { RequestedKey } from './key-policy.ts';

const FIELD = 'csr_pem';
const MAX_CSR_BYTES = 64 * 1024;
const DIGESTS: Record<string, string> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };
/** Signature algorithm (WebCrypto name) -> the key type that can make it. */
const KEY_TYPES: Record<string, string> = {
  ECDSA: 'ec',
  'RSASSA-PKCS1-v1_5': 'rsa',
  'RSA-PSS': 'rsa',
  Ed25519: 'ed25519',
};

const refuse = (rule: string) => new DomainError('invalid_csr', `${FIELD}: ${rule}`);

/**
 * The key of a PKCS#10 request, once the request has proved possession of its private key. Subject, SANs and
 * requested extensions are ignored: the registry decides what a certificate says.
 */
export async function parseCsr(pem: string): Promise<RequestedKey> {
  const der = decodeOnePem(pem, {
    field: FIELD,
    labels: ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'],
    maxBytes: MAX_CSR_BYTES,
    code: 'invalid_csr',
  });
  const request = parseRequest(der);
  const { key, publicKey } = acceptKey(request.subjectPublicKeyInfo, FIELD);
  const algorithm = signatureAlgorithmOf(request.algorithm, publicKey);
  if (!signatureVerifies(request.signedPart, request.signature, publicKey, algorithm)) {
    throw refuse('signature does not verify (no proof of possession)');
  }
  return key;
}

/** What a CertificationRequest holds that the check needs. */
interface ParsedRequest {
  /** CertificationRequestInfo, the bytes the signature covers. */
  readonly signedPart: Buffer;
  readonly subjectPublicKeyInfo: Buffer;
  readonly signature: Buffer;
  /** The signature algorithm by its WebCrypto name and hash; undefined when the OID is not one of them. */
  readonly algorithm: { readonly name: string; readonly hash?: string | undefined; readonly saltLength?: number | undefined } | undefined;
}

/**
 * The DER walk bounds the structure (nesting, lengths, trailing bytes) before anything reads it. The common shapes
 * (ECDSA, RSA PKCS#1 v1.5 and Ed25519 signatures) are read from the walk: @peculiar/x509's ASN.1 objects cost
 * about 1.5 ms per request. Anything else (RSA-PSS parameters, unknown or unusual algorithm identifiers) is parsed
 * by the library, which also names an algorithm the registry refuses.
 */
function parseRequest(der: Buffer): ParsedRequest {
  const problem = derProblemOf(der);
  if (problem) throw refuse(derRule(problem, 'PKCS#10 certificate request', 'request'));
  const notARequest = () => refuse('is not a DER-encoded PKCS#10 certificate request');
  const outer = readElement(der);
  // Only a SEQUENCE has children to read; the walk above made reading them safe.
  const [info, algorithm, signature, ...extra] = outer.tag === Tag.sequence ? childrenOf(der, outer) : [];
  if (info?.tag !== Tag.sequence) throw notARequest();
  // CertificationRequestInfo: version, subject, subjectPKInfo, attributes.
  const [version, subject, spki, attributes, ...more] = childrenOf(der, info);
  if (spki?.tag !== Tag.sequence) throw notARequest();
  const signedPart = der.subarray(info.start, info.end);
  const subjectPublicKeyInfo = der.subarray(spki.start, spki.end);
  const shaped =
    extra.length === 0 &&
    more.length === 0 &&
    version?.tag === Tag.integer &&
    subject?.tag === Tag.sequence &&
    isName(der, subject) &&
    attributes?.tag === ATTRIBUTES_TAG &&
    childrenOf(der, attributes).every((attribute) => isPairOf(der, attribute, Tag.set)) &&
    algorithm?.tag === Tag.sequence &&
    signature?.tag === Tag.bitString &&
    signature.end > signature.contentStart &&
    der[signature.contentStart] === 0;
  const known = shaped ? SIMPLE_ALGORITHMS.get(der.subarray(algorithm.start, algorithm.end).toString('hex')) : undefined;
  if (known && signature) {
    return { signedPart, subjectPublicKeyInfo, signature: der.subarray(signature.contentStart + 1, signature.end), algorithm: known };
  }
  let csr: Pkcs10CertificateRequest;
  try {
    csr = new Pkcs10CertificateRequest(der);
  } catch {
    throw notARequest();
  }
  return { signedPart, subjectPublicKeyInfo, signature: Buffer.from(csr.signature), algorithm: libraryAlgorithmOf(csr) };
}

/** [0] IMPLICIT SET OF Attribute: constructed, context-specific 0. */
const ATTRIBUTES_TAG = 0xa0;

/** Name: SEQUENCE OF SET OF SEQUENCE { OID, value }. */
function isName(der: Buffer, name: Element): boolean {
  return childrenOf(der, name).every(
    (rdn) => rdn.tag === Tag.set && childrenOf(der, rdn).every((pair) => isPairOf(der, pair, undefined)),
  );
}

/** SEQUENCE { OID, value } with the value's tag `valueTag` when given. */
function isPairOf(der: Buffer, element: Element, valueTag: number | undefined): boolean {
  if (element.tag !== Tag.sequence) return false;
  const [type, value, ...rest] = childrenOf(der, element);
  return type?.tag === Tag.oid && value !== undefined && rest.length === 0 && (valueTag === undefined || value.tag === valueTag);
}

/** Whole AlgorithmIdentifier encodings (hex) read without the library, as RFC 5758, 4055 and 8410 write them. */
const SIMPLE_ALGORITHMS = new Map<string, { name: string; hash?: string }>([
  ['300a06082a8648ce3d040302', { name: 'ECDSA', hash: 'SHA-256' }],
  ['300a06082a8648ce3d040303', { name: 'ECDSA', hash: 'SHA-384' }],
  ['300a06082a8648ce3d040304', { name: 'ECDSA', hash: 'SHA-512' }],
  ['300d06092a864886f70d01010b0500', { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }],
  ['300d06092a864886f70d01010c0500', { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' }],
  ['300d06092a864886f70d01010d0500', { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' }],
  ['300506032b6570', { name: 'Ed25519' }],
]);

/** The library's reading of the signature algorithm; undefined when it knows no name for the OID. */
function libraryAlgorithmOf(csr: Pkcs10CertificateRequest): ParsedRequest['algorithm'] {
  try {
    // Typed loosely: the library's Algorithm type is a DOM global this project does not load.
    const algorithm: { name?: unknown; hash?: { name?: unknown }; saltLength?: unknown } = csr.signatureAlgorithm;
    return {
      name: String(algorithm.name),
      hash: typeof algorithm.hash?.name === 'string' ? algorithm.hash.name : undefined,
      saltLength: typeof algorithm.saltLength === 'number' ? algorithm.saltLength : undefined,
    };
  } catch {
    // Unknown algorithm OIDs are refused by the caller.
    return undefined;
  }
}

interface SignatureAlgorithm {
  /** node:crypto digest name; null for Ed25519, which hashes internally. */
  readonly digest: string | null;
  readonly pssSaltLength?: number | undefined;
}

function signatureAlgorithmOf(algorithm: ParsedRequest['algorithm'], publicKey: KeyObject): SignatureAlgorithm {
  const name = algorithm?.name ?? 'unknown';
  const hash = algorithm?.hash;
  const digest = hash === undefined ? undefined : DIGESTS[hash];
  if (!KEY_TYPES[name] || (name === 'Ed25519') !== (hash === undefined) || (hash !== undefined && !digest)) {
    const described = hash ? `${name} with ${hash}` : name;
    throw refuse(`signature algorithm ${described} is not accepted; sign with SHA-256 or stronger, or Ed25519`);
  }
  if (KEY_TYPES[name] !== publicKey.asymmetricKeyType) {
    throw refuse(`signature algorithm ${name} cannot be made with a ${publicKey.asymmetricKeyType ?? 'unknown'} key`);
  }
  return { digest: digest ?? null, pssSaltLength: name === 'RSA-PSS' ? (algorithm?.saltLength ?? 20) : undefined };
}

function signatureVerifies(signed: Buffer, signature: Buffer, key: KeyObject, algorithm: SignatureAlgorithm): boolean {
  const pss =
    algorithm.pssSaltLength === undefined
      ? {}
      : { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: algorithm.pssSaltLength };
  try {
    // ECDSA signatures stay in their DER form, which is node's default.
    return verify(algorithm.digest, signed, { key, ...pss }, signature);
  } catch {
    return false;
  }
}
