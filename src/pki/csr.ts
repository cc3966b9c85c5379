import { constants, type KeyObject, verify } from 'node:crypto';
import { DomainError } from '../errors.ts';
import { childrenOf, readElement, Tag } from './der.ts';
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
  const { csr, signedPart, subjectPublicKeyInfo } = parseRequest(der);
  const { key, publicKey } = acceptKey(subjectPublicKeyInfo, FIELD);
  const signature = signatureAlgorithmOf(csr, publicKey);
  if (!signatureVerifies(signedPart, Buffer.from(csr.signature), publicKey, signature)) {
    throw refuse('signature does not verify (no proof of possession)');
  }
  return key;
}

/**
 * The DER walk bounds the structure (nesting, lengths, trailing bytes) before @peculiar/x509 parses it, and finds
 * the exact bytes the signature covers and the SubjectPublicKeyInfo's (read here rather than re-encoded by the
 * library: the bytes are what node:crypto parses next).
 */
function parseRequest(der: Buffer): { csr: Pkcs10CertificateRequest; signedPart: Buffer; subjectPublicKeyInfo: Buffer } {
  const problem = derProblemOf(der);
  if (problem) throw refuse(derRule(problem, 'PKCS#10 certificate request', 'request'));
  const notARequest = () => refuse('is not a DER-encoded PKCS#10 certificate request');
  const outer = readElement(der);
  // Only a SEQUENCE has children to read; the walk above made reading them safe.
  const [info] = outer.tag === Tag.sequence ? childrenOf(der, outer) : [];
  if (info?.tag !== Tag.sequence) throw notARequest();
  // CertificationRequestInfo: version, subject, subjectPKInfo, attributes.
  const spki = childrenOf(der, info)[2];
  if (spki?.tag !== Tag.sequence) throw notARequest();
  try {
    return {
      csr: new Pkcs10CertificateRequest(der),
      signedPart: der.subarray(info.start, info.end),
      subjectPublicKeyInfo: der.subarray(spki.start, spki.end),
    };
  } catch {
    throw notARequest();
  }
}

interface SignatureAlgorithm {
  /** node:crypto digest name; null for Ed25519, which hashes internally. */
  readonly digest: string | null;
  readonly pssSaltLength?: number | undefined;
}

function signatureAlgorithmOf(csr: Pkcs10CertificateRequest, publicKey: KeyObject): SignatureAlgorithm {
  let name = 'unknown';
  let hash: string | undefined;
  let saltLength: number | undefined;
  try {
    // Typed loosely: the library's Algorithm type is a DOM global this project does not load.
    const algorithm: { name?: unknown; hash?: { name?: unknown }; saltLength?: unknown } = csr.signatureAlgorithm;
    name = String(algorithm.name);
    hash = typeof algorithm.hash?.name === 'string' ? algorithm.hash.name : undefined;
    saltLength = typeof algorithm.saltLength === 'number' ? algorithm.saltLength : undefined;
  } catch {
    // Unknown algorithm OIDs are refused below.
  }
  const digest = hash === undefined ? undefined : DIGESTS[hash];
  if (!KEY_TYPES[name] || (name === 'Ed25519') !== (hash === undefined) || (hash !== undefined && !digest)) {
    const algorithm = hash ? `${name} with ${hash}` : name;
    throw refuse(`signature algorithm ${algorithm} is not accepted; sign with SHA-256 or stronger, or Ed25519`);
  }
  if (KEY_TYPES[name] !== publicKey.asymmetricKeyType) {
    throw refuse(`signature algorithm ${name} cannot be made with a ${publicKey.asymmetricKeyType ?? 'unknown'} key`);
  }
  return { digest: digest ?? null, pssSaltLength: name === 'RSA-PSS' ? (saltLength ?? 20) : undefined };
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
