// RFC 9162 proofs served from stored perfect-subtree hashes, never by rebuilding the tree: every proof
// element is a stored node or the fold of the few stored nodes that make up a right-edge subtree, and the
// nodes of a whole proof are read in one batch so the storage answers in one round trip.
import { areHashes, EMPTY_ROOT, nodeHash } from './hash.ts';
import { consistencyRanges, inclusionRanges, perfectSubtrees, type LeafRange, type NodeId } from './tree-math.ts';

export type { NodeId } from './tree-math.ts';

/** Reads stored perfect-subtree hashes, in the order asked, in one batch (the storage does one query). */
export type ReadNodes = (nodes: readonly NodeId[]) => Promise<Uint8Array[]>;

/**
 * MTH(D[0:size]). `integratedSize`, when given, is how many leaves the storage holds hashes for; asking
 * beyond it is a caller error rather than a read of nodes that do not exist yet.
 */
export async function rootAt(size: number, read: ReadNodes, integratedSize?: number): Promise<Uint8Array> {
  checkTreeSize('size', size, integratedSize);
  if (size === 0) return Uint8Array.from(EMPTY_ROOT); // a copy: callers may keep and change what they get
  return foldRight(await readNodes(perfectSubtrees(0, size), read));
}

/** PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf side first. */
export async function inclusionProof(
  index: number,
  size: number,
  read: ReadNodes,
  integratedSize?: number,
): Promise<Uint8Array[]> {
  checkTreeSize('size', size, integratedSize);
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new RangeError(`leaf index ${index} is not in a tree of ${size} leaves`);
  }
  return hashRanges(inclusionRanges(index, size), read);
}

/** PROOF(first, D[0:second]) of RFC 9162 §2.1.4.1; empty when there is nothing to prove (first is 0 or second). */
export async function consistencyProof(
  first: number,
  second: number,
  read: ReadNodes,
  integratedSize?: number,
): Promise<Uint8Array[]> {
  checkTreeSize('second size', second, integratedSize);
  checkTreeSize('first size', first, undefined);
  if (first > second) throw new RangeError(`first size ${first} is larger than second size ${second}`);
  if (first === 0 || first === second) return [];
  return hashRanges(consistencyRanges(first, second), read);
}

function checkTreeSize(name: string, size: number, integratedSize: number | undefined): void {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`${name} must be an integer from 0 to 2^53 - 1, not ${size}`);
  }
  if (integratedSize !== undefined && size > integratedSize) {
    throw new RangeError(`${name} ${size} is beyond the ${integratedSize} leaves integrated so far`);
  }
}

/** MTH of each range, from one read of all their perfect subtrees. */
async function hashRanges(ranges: readonly LeafRange[], read: ReadNodes): Promise<Uint8Array[]> {
  const plans = ranges.map((range) => perfectSubtrees(range.start, range.end));
  const hashes = await readNodes(plans.flat(), read);
  let next = 0;
  return plans.map((nodes) => foldRight(hashes.slice(next, (next += nodes.length))));
}

/** Calls `read` once (not at all for nothing) and checks what the storage returned. */
export async function readNodes(nodes: readonly NodeId[], read: ReadNodes): Promise<Uint8Array[]> {
  if (nodes.length === 0) return [];
  const hashes = await read(nodes);
  if (hashes.length !== nodes.length || !areHashes(hashes)) {
    throw new Error(`storage returned ${hashes.length} values for ${nodes.length} tree nodes, or a value that is not a SHA-256 hash`);
  }
  return hashes;
}

/** H(h1, H(h2, ... H(hk-1, hk))): the MTH of a range from its perfect subtrees, largest first. */
function foldRight(hashes: readonly Uint8Array[]): Uint8Array {
  return hashes.reduceRight((right, left) => nodeHash(left, right));
}
