// RFC 9162 hashing and proof checks over WebCrypto (`crypto.subtle`, in browsers and in Node 20 alike), for
// the SDK. The algorithms are proof-check.ts's, shared with the server's node:crypto path; no `node:` import.
import { LEAF_PREFIX, NODE_PREFIX } from './hash-bytes.ts';
import { type ProofCheck, consistencySteps, inclusionSteps } from './proof-check.ts';

/** SHA-256(0x00 || data): the hash of one log entry, as its `leaf_hash` names it. */
export function leafHash(data: Uint8Array): Promise<Uint8Array> {
  return sha256(LEAF_PREFIX, data);
}

/** SHA-256(0x01 || left || right): the hash of an interior node. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return sha256(NODE_PREFIX, left, right);
}

/** True when `proof` shows that `leafHash` is leaf `index` of the tree of `size` leaves whose root is `root`. */
export function verifyInclusion(...args: Parameters<typeof inclusionSteps>): Promise<boolean> {
  return run(inclusionSteps(...args));
}

/**
 * True when `proof` shows that the tree of `second` leaves with root `secondRoot` extends the tree of
 * `first` leaves with root `firstRoot` (arguments: first, second, firstRoot, secondRoot, proof).
 */
export function verifyConsistency(...args: Parameters<typeof consistencySteps>): Promise<boolean> {
  return run(consistencySteps(...args));
}

async function run(check: ProofCheck): Promise<boolean> {
  for (let step = check.next(); ; ) {
    if (step.done === true) return step.value;
    step = check.next(await nodeHash(...step.value));
  }
}

async function sha256(...parts: Uint8Array[]): Promise<Uint8Array> {
  const input = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  parts.reduce((offset, part) => (input.set(part, offset), offset + part.length), 0);
  return new Uint8Array(await crypto.subtle.digest('SHA-256', input));
}
