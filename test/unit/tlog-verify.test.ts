import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EMPTY_ROOT } from '../../src/tlog/hash.ts';
import { consistencyProof, inclusionProof } from '../../src/tlog/proof.ts';
import { verifyConsistency, verifyInclusion } from '../../src/tlog/verify.ts';
import { merkleFixture } from '../support/merkle-fixture.ts';

// Proofs here come from the production code, which tlog-merkle.test.ts checks against the RFC's definitions;
// these properties are about the verifier refusing anything but the honest proof.

const N = 300;
const { leaves, read, rootOf, leafOf } = merkleFixture(N);

/** A copy of `hash` with one bit flipped. */
function flip(hash: Uint8Array, bit: number): Uint8Array {
  const copy = Uint8Array.from(hash);
  copy[Math.floor(bit / 8) % copy.length]! ^= 1 << bit % 8;
  return copy;
}

const bit = fc.integer({ min: 0, max: 255 });
/** A tree size and a leaf index in it. */
const leafInTree = fc.integer({ min: 1, max: N }).chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: size - 1 })));
/** Two tree sizes, 0 <= first <= second. */
const treePair = fc.integer({ min: 0, max: N }).chain((second) => fc.tuple(fc.integer({ min: 0, max: second }), fc.constant(second)));

describe('verifyInclusion', () => {
  it('accepts the honest proof and nothing with one bit changed', async () => {
    await fc.assert(
      fc.asyncProperty(leafInTree, fc.nat(), bit, async ([size, index], which, flipped) => {
        const proof = await inclusionProof(index, size, read);
        const [leaf, root] = [leafOf(index), rootOf(size)];
        expect(verifyInclusion(leaf, index, size, proof, root)).toBe(true);
        expect(verifyInclusion(flip(leaf, flipped), index, size, proof, root)).toBe(false);
        expect(verifyInclusion(leaf, index, size, proof, flip(root, flipped))).toBe(false);
        if (proof.length > 0) {
          const at = which % proof.length;
          const tampered = proof.map((hash, i) => (i === at ? flip(hash, flipped) : hash));
          expect(verifyInclusion(leaf, index, size, tampered, root)).toBe(false);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuses the proof for another index, or for another size against that size\'s root', async () => {
    const otherSize = fc.integer({ min: 0, max: N });
    await fc.assert(
      fc.asyncProperty(leafInTree, fc.integer({ min: 0, max: N + 1 }), otherSize, async ([size, index], otherIndex, other) => {
        const proof = await inclusionProof(index, size, read);
        const [leaf, root] = [leafOf(index), rootOf(size)];
        if (otherIndex !== index) expect(verifyInclusion(leaf, otherIndex, size, proof, root)).toBe(false);
        if (other !== size) expect(verifyInclusion(leaf, index, other, proof, rootOf(other))).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('cannot tell a size from its root alone: the checkpoint signature binds them', async () => {
    // Leaf 0 of 257 leaves: the proof's last hash is leaf 256, which could as well be MTH(D[256:258]) of a
    // tree of 258 leaves. Any verifier computes the same root for both, so the size must come signed with it.
    const proof = await inclusionProof(0, 257, read);
    expect(verifyInclusion(leafOf(0), 0, 258, proof, rootOf(257))).toBe(true);
    expect(verifyInclusion(leafOf(0), 0, 258, proof, rootOf(258))).toBe(false);
  });

  it('refuses a proof with a hash dropped or added', async () => {
    await fc.assert(
      fc.asyncProperty(leafInTree, async ([size, index]) => {
        const proof = await inclusionProof(index, size, read);
        const [leaf, root] = [leafOf(index), rootOf(size)];
        expect(verifyInclusion(leaf, index, size, [...proof, root], root)).toBe(false);
        if (proof.length > 0) expect(verifyInclusion(leaf, index, size, proof.slice(0, -1), root)).toBe(false);
      }),
    );
  });
});

describe('verifyConsistency', () => {
  it('accepts the honest proof and nothing with one bit changed', async () => {
    await fc.assert(
      fc.asyncProperty(treePair, fc.nat(), bit, async ([first, second], which, flipped) => {
        const proof = await consistencyProof(first, second, read);
        const [firstRoot, secondRoot] = [rootOf(first), rootOf(second)];
        expect(verifyConsistency(first, second, firstRoot, secondRoot, proof)).toBe(true);
        expect(verifyConsistency(first, second, flip(firstRoot, flipped), secondRoot, proof)).toBe(false);
        // The empty tree says nothing about the second root.
        if (first > 0) expect(verifyConsistency(first, second, firstRoot, flip(secondRoot, flipped), proof)).toBe(false);
        if (proof.length > 0) {
          const at = which % proof.length;
          const tampered = proof.map((hash, i) => (i === at ? flip(hash, flipped) : hash));
          expect(verifyConsistency(first, second, firstRoot, secondRoot, tampered)).toBe(false);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuses the proof for other sizes, against their roots', async () => {
    // Everything is consistent with the empty tree (with the empty proof), so size 0 is no wrong size.
    const otherSize = fc.integer({ min: 1, max: N });
    await fc.assert(
      fc.asyncProperty(treePair, otherSize, otherSize, async ([first, second], otherFirst, otherSecond) => {
        fc.pre(first > 0);
        const proof = await consistencyProof(first, second, read);
        const [firstRoot, secondRoot] = [rootOf(first), rootOf(second)];
        if (otherFirst !== first) expect(verifyConsistency(otherFirst, second, rootOf(otherFirst), secondRoot, proof)).toBe(false);
        if (otherSecond !== second) expect(verifyConsistency(first, otherSecond, firstRoot, rootOf(otherSecond), proof)).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('takes only the empty proof, with the empty root, from the empty tree', () => {
    expect(verifyConsistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])).toBe(true);
    expect(verifyConsistency(0, 5, EMPTY_ROOT, rootOf(5), [])).toBe(true);
    expect(verifyConsistency(0, 5, rootOf(1), rootOf(5), [])).toBe(false);
    expect(verifyConsistency(0, 5, EMPTY_ROOT, rootOf(5), [rootOf(5)])).toBe(false);
    expect(verifyConsistency(5, 5, rootOf(5), rootOf(5), [rootOf(5)])).toBe(false);
    expect(verifyConsistency(4, 5, rootOf(4), rootOf(5), [])).toBe(false);
  });
});

describe('verifiers on arbitrary input', () => {
  const hashLike = fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 40 }), fc.anything());
  const sizeLike = fc.oneof(fc.nat(), fc.maxSafeNat(), fc.integer(), fc.double(), fc.constant(2 ** 53), fc.anything());
  const proofLike = fc.oneof(
    fc.array(hashLike, { maxLength: 70 }),
    fc.sparseArray(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 20 }),
    fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 200 }),
    fc.anything(),
  );
  // The verifiers' parameters are typed; the network is not.
  const asHash = (value: unknown) => value as Uint8Array;
  const asNumber = (value: unknown) => value as number;
  const asProof = (value: unknown) => value as Uint8Array[];

  it('never throw, and return a boolean', () => {
    const root = rootOf(2);
    expect(verifyInclusion(leafOf(0), 0, 2, new Array<Uint8Array>(1), root)).toBe(false);
    expect(verifyConsistency(1, 2, rootOf(1), root, new Array<Uint8Array>(1))).toBe(false);
    fc.assert(
      fc.property(hashLike, sizeLike, sizeLike, proofLike, hashLike, (a, m, n, proof, b) => {
        const inclusion = verifyInclusion(asHash(a), asNumber(m), asNumber(n), asProof(proof), asHash(b));
        const consistency = verifyConsistency(asNumber(m), asNumber(n), asHash(a), asHash(b), asProof(proof));
        expect(typeof inclusion).toBe('boolean');
        expect(typeof consistency).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });

  it('refuse random proofs at any size', () => {
    const hash = fc.uint8Array({ minLength: 32, maxLength: 32 });
    fc.assert(
      fc.property(hash, fc.maxSafeNat(), fc.maxSafeNat(), fc.array(hash, { maxLength: 110 }), hash, (a, m, n, proof, b) => {
        expect(verifyInclusion(a, Math.min(m, n), Math.max(m, n), proof, b)).toBe(false);
        expect(verifyConsistency(Math.min(m, n), Math.max(m, n), a, b, proof)).toBe(m === n && Buffer.from(a).equals(b) && proof.length === 0);
      }),
      { numRuns: 1000 },
    );
  });
});
