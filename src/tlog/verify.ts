// The client-side checks of RFC 9162 §2.1.3.2 and §2.1.4.2, step by step. Everything here may come from
// the network, so bad input is a `false`, never an exception. Bit tests use % 2 and halving because
// tree sizes go past 2^32, where JavaScript's bitwise operators would truncate.
import { areHashes, EMPTY_ROOT, hashesEqual, isHash, nodeHash } from './hash.ts';
import { isPowerOfTwo } from './tree-math.ts';

// A tree of at most 2^53 leaves has inclusion proofs of at most 53 hashes and consistency proofs of at
// most twice that; longer ones are refused before any hashing.
const MAX_PROOF_LENGTH = 128;

/** True when `proof` shows that `leafHash` is leaf `index` of the tree of `size` leaves whose root is `root`. */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isHash(leafHash) || !isHash(root) || !isProof(proof)) return false;
  if (!isTreeSize(size) || !isTreeSize(index) || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      r = nodeHash(r, p);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  return sn === 0 && hashesEqual(r, root);
}

/**
 * True when `proof` shows that the tree of `second` leaves with root `secondRoot` extends the tree of
 * `first` leaves with root `firstRoot`. The RFC's algorithm covers 0 < first < second; the two cases with
 * nothing to prove (an empty first tree, equal sizes) take an empty proof.
 */
export function verifyConsistency(
  first: number,
  second: number,
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!isHash(firstRoot) || !isHash(secondRoot) || !isProof(proof)) return false;
  if (!isTreeSize(first) || !isTreeSize(second) || first > second) return false;
  if (first === second) return proof.length === 0 && hashesEqual(firstRoot, secondRoot);
  if (first === 0) return proof.length === 0 && hashesEqual(firstRoot, EMPTY_ROOT);
  if (proof.length === 0) return false;
  const [head, ...rest] = isPowerOfTwo(first) ? [firstRoot, ...proof] : proof;
  let fn = first - 1;
  let sn = second - 1;
  while (isOdd(fn)) [fn, sn] = [half(fn), half(sn)];
  let fr = head ?? firstRoot;
  let sr = fr;
  for (const c of rest) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      sr = nodeHash(sr, c);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  return sn === 0 && hashesEqual(fr, firstRoot) && hashesEqual(sr, secondRoot);
}

function isProof(proof: unknown): proof is readonly Uint8Array[] {
  return Array.isArray(proof) && proof.length <= MAX_PROOF_LENGTH && areHashes(proof);
}

function isTreeSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

const isOdd = (n: number) => n % 2 === 1;
const half = (n: number) => Math.floor(n / 2);
