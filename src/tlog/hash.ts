// RFC 9162 §2.1.1 Merkle Tree hashing. The one-byte prefixes keep a leaf from ever hashing like an interior
// node (the second-preimage defence of RFC 6962).
import { createHash } from 'node:crypto';

export const HASH_SIZE = 32;

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** MTH of the empty tree: SHA-256 of the empty string. */
export const EMPTY_ROOT: Uint8Array = createHash('sha256').digest();

/** SHA-256(0x00 || data): the hash of one log entry. */
export function leafHash(data: Uint8Array): Uint8Array {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

/** SHA-256(0x01 || left || right): the hash of an interior node. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** True for a value that can be a SHA-256 hash; proofs arrive from the network, so types are checked too. */
export function isHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === HASH_SIZE;
}

/** True when every element is a hash; spreading first because every() skips the holes of a sparse array. */
export function areHashes(values: readonly unknown[]): values is readonly Uint8Array[] {
  return [...values].every(isHash);
}

export function hashesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
