// RFC 9162 §2.1.1 Merkle Tree hashing on node:crypto, synchronous for the log's hot path. The browser SDK
// hashes through WebCrypto instead (web-verify.ts); what a hash is lives in hash-bytes.ts for both.
import { createHash } from 'node:crypto';
import { LEAF_PREFIX, NODE_PREFIX } from './hash-bytes.ts';

export { EMPTY_ROOT, HASH_SIZE, areHashes, hashesEqual, isHash } from './hash-bytes.ts';

/** SHA-256(0x00 || data): the hash of one log entry. */
export function leafHash(data: Uint8Array): Uint8Array {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

/** SHA-256(0x01 || left || right): the hash of an interior node. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}
