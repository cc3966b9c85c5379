import { beforeAll } from 'vitest';
import { leafHash } from '../../src/tlog/hash.ts';
import { newNodes } from '../../src/tlog/integrate.ts';
import { type ReadNodes, rootAt } from '../../src/tlog/proof.ts';

/**
 * A tree of `size` leaves (`entry 0`, `entry 1`, ...) built by the production integration code and kept in memory,
 * with the root at every size: what the proof tests read proofs from. Filled in a beforeAll of the calling suite.
 */
export function merkleFixture(size: number) {
  const leaves = Array.from({ length: size }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
  const roots: Uint8Array[] = [];
  const store = new Map<string, Uint8Array>();
  const read: ReadNodes = async (nodes) => nodes.map((node) => store.get(`${node.level}/${node.index}`) ?? new Uint8Array());
  beforeAll(async () => {
    for (const { node, hash } of await newNodes(0, leaves, async () => [])) store.set(`${node.level}/${node.index}`, hash);
    for (let n = 0; n <= size; n++) roots.push(await rootAt(n, read));
  });
  return {
    leaves,
    read,
    rootOf: (n: number) => roots[n] ?? new Uint8Array(),
    leafOf: (i: number) => leaves[i] ?? new Uint8Array(),
  };
}
