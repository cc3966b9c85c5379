// Index arithmetic for a log that stores the hash of every perfect subtree: node (level L, index i) is
// MTH(D[i·2^L : (i+1)·2^L]), level 0 being the leaf hashes. Sizes and indices are JavaScript numbers, exact
// up to 2^53; the code divides instead of shifting because bitwise operators truncate to 32 bits.

export interface NodeId {
  readonly level: number;
  readonly index: number;
}

/** A range of leaves [start, end) whose MTH a proof needs. */
export interface LeafRange {
  readonly start: number;
  readonly end: number;
}

/** RFC 9162's k for n > 1 leaves: the largest power of two smaller than n. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export function isPowerOfTwo(n: number): boolean {
  let p = 1;
  while (p < n) p *= 2;
  return p === n;
}

/**
 * The maximal perfect subtrees covering [start, end), left to right. For every range RFC 9162's recursion
 * names (MTH(D[a:b]) with a a multiple of the smallest power of two >= b - a, which includes [0, n)) these
 * are the binary digits of b - a from the largest down, so MTH(D[a:b]) is their right fold
 * H(n1, H(n2, ... H(nk-1, nk))): at most log2(b - a) + 1 stored hashes.
 */
export function perfectSubtrees(start: number, end: number): NodeId[] {
  const nodes: NodeId[] = [];
  for (let at = start; at < end; ) {
    let level = 0;
    while (at % 2 ** (level + 1) === 0 && at + 2 ** (level + 1) <= end) level++;
    nodes.push({ level, index: at / 2 ** level });
    at += 2 ** level;
  }
  return nodes;
}

/**
 * The ranges whose hashes form PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), in proof order (leaf side
 * first). Walks down from the root: at each split the sibling of the half holding the leaf joins the proof.
 */
export function inclusionRanges(index: number, size: number): LeafRange[] {
  const siblings: LeafRange[] = [];
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const middle = start + splitPoint(end - start);
    if (index < middle) {
      siblings.push({ start: middle, end });
      end = middle;
    } else {
      siblings.push({ start, end: middle });
      start = middle;
    }
  }
  return siblings.reverse();
}

/**
 * The ranges whose hashes form PROOF(first, D[0:second]) (RFC 9162 §2.1.4.1) for 0 < first < second, in
 * proof order. SUBPROOF's recursion becomes a walk down from the root; `whole` is its flag b, true while the
 * subtree being walked is still the left edge of the old tree, whose root the verifier already holds.
 */
export function consistencyRanges(first: number, second: number): LeafRange[] {
  const siblings: LeafRange[] = [];
  let start = 0;
  let end = second;
  let whole = true;
  while (first !== end) {
    const middle = start + splitPoint(end - start);
    if (first <= middle) {
      siblings.push({ start: middle, end });
      end = middle;
    } else {
      siblings.push({ start, end: middle });
      start = middle;
      whole = false;
    }
  }
  if (!whole) siblings.push({ start, end });
  return siblings.reverse();
}
