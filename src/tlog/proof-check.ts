// The client-side checks of RFC 9162 §2.1.3.2 and §2.1.4.2, step by step. Everything here may come from
// the network, so bad input is a `false`, never an exception. Bit tests use % 2 and halving because
// tree sizes go past 2^32, where JavaScript's bitwise operators would truncate.
// Each check is a generator that yields the pairs of children it needs hashed and receives their node hash,
// so one algorithm serves node:crypto synchronously (verify.ts) and WebCrypto asynchronously (web-verify.ts).
// No `node:` import here.
import { areHashes, EMPTY_ROOT, hashesEqual, isHash } from './hash-bytes.ts';
import { isPowerOfTwo } from './tree-math.ts';

/** A proof check: yields [left, right] to be node-hashed, is sent SHA-256(0x01 || left || right), returns the verdict. */
export type ProofCheck = Generator<readonly [left: Uint8Array, right: Uint8Array], boolean, Uint8Array>;

// A tree of at most 2^53 leaves has inclusion proofs of at most 53 hashes and consistency proofs of at
// most twice that; longer ones are refused before any hashing.
const MAX_PROOF_LENGTH = 128;

/** The check that `proof` shows `leafHash` is leaf `index` of the tree of `size` leaves whose root is `root`. */
export function* inclusionSteps(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): ProofCheck {
  if (!isHash(leafHash) || !isHash(root) || !isProof(proof)) return false;
  if (!isTreeSize(size) || !isTreeSize(index) || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = yield [p, r];
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      r = yield [r, p];
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  return sn === 0 && hashesEqual(r, root);
}

/**
 * The check that `proof` shows the tree of `second` leaves with root `secondRoot` extends the tree of
 * `first` leaves with root `firstRoot`. The RFC's algorithm covers 0 < first < second; the two cases with
 * nothing to prove (an empty first tree, equal sizes) take an empty proof.
 */
export function* consistencySteps(
  first: number,
  second: number,
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
  proof: readonly Uint8Array[],
): ProofCheck {
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
      fr = yield [c, fr];
      sr = yield [c, sr];
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      sr = yield [sr, c];
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
