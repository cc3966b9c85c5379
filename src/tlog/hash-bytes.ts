// What an RFC 9162 §2.1.1 hash is, apart from computing one: its size, the domain-separating prefixes, the
// empty tree's root and shape checks. No `node:` import, so the browser SDK shares it with the server.
import { decodeHex } from './hex.ts';

export const HASH_SIZE = 32;

/** Prefixed to a leaf's data, so a leaf never hashes like an interior node (RFC 6962's second-preimage defence). */
export const LEAF_PREFIX = Uint8Array.of(0x00);
/** Prefixed to an interior node's two children. */
export const NODE_PREFIX = Uint8Array.of(0x01);

/** MTH of the empty tree: SHA-256 of the empty string. */
export const EMPTY_ROOT: Uint8Array = decodeHex('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');

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
