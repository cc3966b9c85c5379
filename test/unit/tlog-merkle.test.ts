import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { EMPTY_ROOT, leafHash, nodeHash } from '../../src/tlog/hash.ts';
import { newNodes } from '../../src/tlog/integrate.ts';
import { consistencyProof, inclusionProof, type NodeId, type ReadNodes, rootAt } from '../../src/tlog/proof.ts';
import { verifyConsistency, verifyInclusion } from '../../src/tlog/verify.ts';

// A Merkle tree written straight from RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1, sharing no code with src/tlog:
// recursion on D[start:end] exactly as the RFC recurses on D_n, memoised so that every size to 300 is cheap.

const sha256 = (...parts: Uint8Array[]) => parts.reduce((h, part) => h.update(part), createHash('sha256')).digest();
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const leafData = (i: number) => Buffer.from(`leaf ${i}`);

/** The largest power of two smaller than n (n > 1): RFC 9162's k, with k < n <= 2k. */
function rfcSplit(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

class ReferenceTree {
  private readonly memo = new Map<string, Uint8Array>();

  /** Leaves are leafData(i % period): a periodic tree has cheap hashes at any size, up to 2^53. */
  constructor(private readonly period = Infinity) {}

  leaf(i: number): Uint8Array {
    return sha256(Uint8Array.of(0), leafData(i % this.period));
  }

  /** MTH(D[start:end]). */
  mth(start: number, end: number): Uint8Array {
    const key = `${start % this.period}:${end - start}`;
    let hash = this.memo.get(key);
    if (!hash) {
      const n = end - start;
      if (n === 0) hash = sha256();
      else if (n === 1) hash = this.leaf(start);
      else {
        const k = rfcSplit(n);
        hash = sha256(Uint8Array.of(1), this.mth(start, start + k), this.mth(start + k, end));
      }
      this.memo.set(key, hash);
    }
    return hash;
  }

  /** PATH(m, D[start:end]), m relative to start. */
  path(m: number, start: number, end: number): Uint8Array[] {
    const n = end - start;
    if (n === 1) return [];
    const k = rfcSplit(n);
    if (m < k) return [...this.path(m, start, start + k), this.mth(start + k, end)];
    return [...this.path(m - k, start + k, end), this.mth(start, start + k)];
  }

  /** PROOF(m, D[0:n]) = SUBPROOF(m, D_n, true). */
  proof(m: number, n: number): Uint8Array[] {
    return this.subproof(m, 0, n, true);
  }

  private subproof(m: number, start: number, end: number, b: boolean): Uint8Array[] {
    const n = end - start;
    if (m === n) return b ? [] : [this.mth(start, end)];
    const k = rfcSplit(n);
    if (m <= k) return [...this.subproof(m, start, start + k, b), this.mth(start + k, end)];
    return [...this.subproof(m - k, start + k, end, false), this.mth(start, start + k)];
  }

  /** A stored perfect subtree, straight from the definition. */
  node(node: NodeId): Uint8Array {
    const width = 2 ** node.level;
    return this.mth(node.index * width, (node.index + 1) * width);
  }
}

type Store = Map<string, Uint8Array>;
const key = (node: NodeId) => `${node.level}/${node.index}`;

/** A ReadNodes over a map that counts calls and refuses nodes past `size` leaves. */
function reader(store: (node: NodeId) => Uint8Array | undefined, size = Infinity) {
  const calls: NodeId[][] = [];
  const read: ReadNodes = async (nodes) => {
    calls.push([...nodes]);
    return nodes.map((node) => {
      const end = (node.index + 1) * 2 ** node.level;
      const hash = store(node);
      if (end > size || !hash) throw new Error(`read node ${key(node)} outside a tree of ${size}`);
      return hash;
    });
  };
  return { read, calls };
}

/** Appends leaves 0..n-1 through newNodes in batches of the given sizes (the last batch takes the rest). */
async function integrateInBatches(n: number, batches: readonly number[], onRead?: (size: number, nodes: readonly NodeId[]) => void) {
  const store: Store = new Map();
  let size = 0;
  for (const batch of [...batches, n]) {
    const count = Math.min(batch, n - size);
    const { read, calls } = reader((node) => store.get(key(node)), size);
    const nodes = await newNodes(size, Array.from({ length: count }, (_, i) => leafHash(leafData(size + i))), read);
    expect(calls.length).toBeLessThanOrEqual(1);
    for (const call of calls) onRead?.(size, call);
    for (const { node, hash } of nodes) {
      expect(store.has(key(node))).toBe(false);
      store.set(key(node), hash);
    }
    size += count;
    if (size === n) break;
  }
  return store;
}

const N = 300;
const reference = new ReferenceTree();
let stored: Store;

beforeAll(async () => {
  stored = await integrateInBatches(N, [1, 2, 3, 5, 8, 13, 21, 34, 55, 89]);
});

describe('RFC 9162 hashing', () => {
  it('hashes leaves, nodes and the empty tree with the RFC prefixes', () => {
    expect(hex(EMPTY_ROOT)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(leafHash(new Uint8Array()))).toBe('6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
    const [a, b] = [leafHash(leafData(0)), leafHash(leafData(1))];
    expect(hex(nodeHash(a, b))).toBe(hex(sha256(Uint8Array.of(1), a, b)));
    expect(hex(leafHash(leafData(7)))).toBe(hex(reference.leaf(7)));
  });
});

describe('stored perfect subtrees', () => {
  it('holds exactly the perfect subtrees of 300 leaves, each equal to its MTH', () => {
    let expected = 0;
    for (let level = 0; 2 ** level <= N; level++) expected += Math.floor(N / 2 ** level);
    expect(stored.size).toBe(expected);
    for (const [name, hash] of stored) {
      const [level = 0, index = 0] = name.split('/').map(Number);
      expect(hex(hash), name).toBe(hex(reference.node({ level, index })));
    }
  });

  it('come out the same whatever the batch sizes', async () => {
    const oneByOne = await integrateInBatches(N, Array.from({ length: N }, () => 1));
    const asHex = (store: Store) => new Map([...store].map(([name, hash]) => [name, hex(hash)]));
    const expected = asHex(oneByOne);
    expect(asHex(stored)).toEqual(expected);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 70 }), { maxLength: 40 }), async (batches) => {
        expect(asHex(await integrateInBatches(N, batches))).toEqual(expected);
      }),
      { numRuns: 40 },
    );
  });

  it('reads only old right-frontier nodes, at most one per level, in one call', async () => {
    await integrateInBatches(N, [3, 1, 7, 64, 2, 100, 5], (size, nodes) => {
      expect(nodes.length).toBeLessThanOrEqual(Math.log2(size) + 1);
      expect(new Set(nodes.map((node) => node.level)).size).toBe(nodes.length);
      // Each is a left sibling that ends where the old tree ends at its level.
      for (const node of nodes) expect(node.index + 1).toBe(Math.floor(size / 2 ** node.level));
    });
  });

  it('appends nothing for an empty batch, without reading', async () => {
    const { read, calls } = reader(() => undefined);
    expect(await newNodes(5, [], read)).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('refuses leaf hashes that are not 32 bytes and sizes past 2^53', async () => {
    const { read } = reader(() => undefined);
    await expect(newNodes(0, [new Uint8Array(31)], read)).rejects.toThrow(RangeError);
    await expect(newNodes(-1, [leafHash(leafData(0))], read)).rejects.toThrow(RangeError);
    await expect(newNodes(Number.MAX_SAFE_INTEGER, [leafHash(leafData(0))], read)).rejects.toThrow(RangeError);
  });
});

function sameHashes(actual: readonly Uint8Array[], expected: readonly Uint8Array[]): boolean {
  return actual.length === expected.length && actual.every((hash, i) => Buffer.from(hash).equals(expected[i] ?? new Uint8Array()));
}

describe('proofs from stored hashes against the reference tree, every size to 300', () => {
  it('rootAt equals MTH for every size, reading once and nothing past the size', async () => {
    for (let n = 0; n <= N; n++) {
      const { read, calls } = reader((node) => stored.get(key(node)), n);
      expect(hex(await rootAt(n, read)), `size ${n}`).toBe(hex(reference.mth(0, n)));
      expect(calls.length).toBe(n === 0 ? 0 : 1);
    }
  });

  it('inclusion proofs equal PATH and verify, for every index of every size', async () => {
    const failures: string[] = [];
    for (let n = 1; n <= N; n++) {
      const root = reference.mth(0, n);
      for (let m = 0; m < n; m++) {
        const { read, calls } = reader((node) => stored.get(key(node)), n);
        const proof = await inclusionProof(m, n, read);
        if (!sameHashes(proof, reference.path(m, 0, n))) failures.push(`PATH(${m}, D[${n}]) differs`);
        if (calls.length > 1 || (proof.length > 0 && calls.length !== 1)) failures.push(`PATH(${m}, D[${n}]) read ${calls.length} times`);
        if (!verifyInclusion(reference.leaf(m), m, n, proof, root)) failures.push(`PATH(${m}, D[${n}]) does not verify`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('consistency proofs equal PROOF and verify, for every 0 < m <= n', async () => {
    const failures: string[] = [];
    for (let n = 1; n <= N; n++) {
      const second = reference.mth(0, n);
      for (let m = 1; m <= n; m++) {
        const { read, calls } = reader((node) => stored.get(key(node)), n);
        const proof = await consistencyProof(m, n, read);
        if (!sameHashes(proof, reference.proof(m, n))) failures.push(`PROOF(${m}, D[${n}]) differs`);
        if (calls.length !== (m === n ? 0 : 1)) failures.push(`PROOF(${m}, D[${n}]) read ${calls.length} times`);
        if (!verifyConsistency(m, n, reference.mth(0, m), second, proof)) failures.push(`PROOF(${m}, D[${n}]) does not verify`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('gives the empty proof from the empty tree, and it verifies', async () => {
    const { read, calls } = reader((node) => stored.get(key(node)));
    expect(await consistencyProof(0, 17, read)).toEqual([]);
    expect(calls).toEqual([]);
    expect(verifyConsistency(0, 17, EMPTY_ROOT, reference.mth(0, 17), [])).toBe(true);
  });
});

describe('proofs on large trees', () => {
  // Leaves repeat every 16 entries, so the reference and a consistent store are cheap at any size, while
  // the low levels still tell indices apart. Sizes past 2^32 catch 32-bit bitwise arithmetic.
  const periodic = new ReferenceTree(16);
  const sizes = [1_000_000, 1_048_576, 1_048_577, 2 ** 32 + 1, 2 ** 40 + 12_345, Number.MAX_SAFE_INTEGER];
  const bound = (n: number) => 2 * Math.log2(n) + 2;

  it.each(sizes)('inclusion at size %d: one read of O(log n) nodes, equal to PATH, verified', async (n) => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: n - 1 }), async (m) => {
        const { read, calls } = reader((node) => periodic.node(node), n);
        const proof = await inclusionProof(m, n, read);
        expect(calls.length).toBe(1);
        expect(calls[0]?.length).toBeLessThanOrEqual(bound(n));
        expect(sameHashes(proof, periodic.path(m, 0, n))).toBe(true);
        expect(verifyInclusion(periodic.leaf(m), m, n, proof, periodic.mth(0, n))).toBe(true);
      }),
      { numRuns: 30, examples: [[0], [n - 1], [Math.floor(n / 2)]] },
    );
  });

  it.each(sizes)('consistency up to size %d: one read of O(log n) nodes, equal to PROOF, verified', async (n) => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: n - 1 }), async (m) => {
        const { read, calls } = reader((node) => periodic.node(node), n);
        const proof = await consistencyProof(m, n, read);
        expect(calls.length).toBe(1);
        expect(calls[0]?.length).toBeLessThanOrEqual(bound(n));
        expect(sameHashes(proof, periodic.proof(m, n))).toBe(true);
        expect(verifyConsistency(m, n, periodic.mth(0, m), periodic.mth(0, n), proof)).toBe(true);
      }),
      { numRuns: 30, examples: [[1], [n - 1], [Math.floor(n / 2)]] },
    );
  });

  it('rootAt and newNodes agree with the reference past 2^32', async () => {
    const size = 2 ** 40 + 12_345;
    const { read } = reader((node) => periodic.node(node), size);
    expect(hex(await rootAt(size, read))).toBe(hex(periodic.mth(0, size)));
    const leaves = Array.from({ length: 300 }, (_, i) => periodic.leaf(size + i));
    const nodes = await newNodes(size, leaves, read);
    for (const { node, hash } of nodes) expect(hex(hash), key(node)).toBe(hex(periodic.node(node)));
  });
});

describe('proof arguments', () => {
  const { read } = reader(() => new Uint8Array(32));

  it('refuses what no tree has', async () => {
    await expect(inclusionProof(5, 5, read)).rejects.toThrow(/leaf index 5 is not in a tree of 5/);
    await expect(inclusionProof(0, 0, read)).rejects.toThrow(RangeError);
    await expect(inclusionProof(-1, 5, read)).rejects.toThrow(RangeError);
    await expect(inclusionProof(1.5, 5, read)).rejects.toThrow(RangeError);
    await expect(consistencyProof(6, 5, read)).rejects.toThrow(/first size 6 is larger than second size 5/);
    await expect(consistencyProof(-1, 5, read)).rejects.toThrow(RangeError);
    await expect(rootAt(2 ** 53, read)).rejects.toThrow(RangeError);
    await expect(rootAt(Number.NaN, read)).rejects.toThrow(RangeError);
  });

  it('refuses sizes beyond what is integrated', async () => {
    await expect(rootAt(11, read, 10)).rejects.toThrow(/size 11 is beyond the 10 leaves integrated/);
    await expect(inclusionProof(3, 11, read, 10)).rejects.toThrow(RangeError);
    await expect(consistencyProof(3, 11, read, 10)).rejects.toThrow(RangeError);
    await expect(rootAt(10, read, 10)).resolves.toHaveLength(32);
  });

  it('refuses what a broken storage returns', async () => {
    await expect(rootAt(3, async () => [new Uint8Array(32)])).rejects.toThrow(/storage returned 1 values for 2/);
    await expect(rootAt(2, async () => [new Uint8Array(31)])).rejects.toThrow(/not a SHA-256 hash/);
  });
});
