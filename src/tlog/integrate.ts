// Integration: appending a batch of leaves to a log that stores every perfect subtree. A node becomes
// complete when the leaf that ends it arrives, so a batch completes its own leaves and, level by level,
// every parent whose last leaf is in the batch. The only old hashes it needs are the left siblings of the
// lowest new node of each level: the right frontier of the old tree, at most one node per level.
import { areHashes, nodeHash } from './hash.ts';
import { readNodes, type ReadNodes } from './proof.ts';
import type { NodeId } from './tree-math.ts';

export interface StoredNode {
  readonly node: NodeId;
  readonly hash: Uint8Array;
}

/**
 * The perfect-subtree nodes that become complete when leaves [size, size + leafHashes.length) are appended,
 * with their hashes, level 0 first and left to right within a level. Reads the old frontier nodes it needs
 * in one `read` call, and makes no call when it needs none (an empty batch, or one that lands on an even
 * boundary at every level it completes).
 */
export async function newNodes(size: number, leafHashes: readonly Uint8Array[], read: ReadNodes): Promise<StoredNode[]> {
  const end = size + leafHashes.length;
  if (!Number.isSafeInteger(size) || size < 0 || !Number.isSafeInteger(end)) {
    throw new RangeError(`cannot append ${leafHashes.length} leaves to a tree of ${size}: sizes stop at 2^53 - 1`);
  }
  if (!areHashes(leafHashes)) throw new RangeError('every leaf hash must be a 32-byte Uint8Array');
  const siblings = frontierSiblings(size, end);
  const hashes = await readNodes(siblings, read);
  const siblingAt = new Map(siblings.map((node, i) => [node.level, hashes[i]]));
  const stored: StoredNode[] = [];
  let row: readonly Uint8Array[] = leafHashes;
  let first = size;
  for (let level = 0; row.length > 0; level++) {
    for (const [i, hash] of row.entries()) stored.push({ node: { level, index: first + i }, hash });
    // A row starting at an odd index pairs its first node with the old left sibling.
    row = pairUp(first % 2 === 1 ? [siblingAt.get(level), ...row] : row, level);
    first = Math.floor(first / 2);
  }
  return stored;
}

/** The old nodes the batch pairs with: at each level, the left sibling of the first new node, if any. */
function frontierSiblings(size: number, end: number): NodeId[] {
  const siblings: NodeId[] = [];
  for (let level = 0; 2 ** level <= end; level++) {
    const first = Math.floor(size / 2 ** level);
    const completed = Math.floor(end / 2 ** level) - first;
    if (first % 2 === 1 && completed > 0) siblings.push({ level, index: first - 1 });
  }
  return siblings;
}

/** The parents of consecutive pairs; a trailing unpaired node waits for a later batch. */
function pairUp(row: readonly (Uint8Array | undefined)[], level: number): Uint8Array[] {
  const parents: Uint8Array[] = [];
  for (let j = 1; j < row.length; j += 2) {
    const left = row[j - 1];
    const right = row[j];
    if (!left || !right) throw new Error(`integration lost a node at level ${level}`); // a bug, not bad input
    parents.push(nodeHash(left, right));
  }
  return parents;
}
