// Proving an entry is in the log: its inclusion proof, from the leaf hash computed here to the root of the latest
// checkpoint verified with the trusted key; the checks of `atr log prove`, over the SDK's verifyInclusion.
import { type LogEntry, verifyInclusion } from '../../../sdk/browser.ts';
import { h } from '../dom.ts';
import { api } from '../session.ts';
import { act } from '../states.ts';
import { proofHashes } from './hex.ts';
import { verifiedLatest } from './trust.ts';
import { Failure, verdict } from './verdict.ts';

/** What the server proved about the entry whose data hashes to `leaf`; throws Failure when it proved nothing. */
export async function checkInclusion(entry: LogEntry, leaf: Uint8Array): Promise<string> {
  const latest = await verifiedLatest();
  const index = Number(entry.index);
  if (index >= latest.size) {
    throw new Failure(`entry ${index} is not in the latest checkpoint (tree size ${latest.size}) yet; it will be in the next one`);
  }
  const proof = await api().log.getInclusionProof({ index: entry.index, treeSize: BigInt(latest.size) });
  if (proof.index !== entry.index || proof.treeSize !== BigInt(latest.size)) {
    throw new Failure(`asked for entry ${index} in the tree of size ${latest.size}, got entry ${proof.index} in size ${proof.treeSize}`);
  }
  if (!(await verifyInclusion(leaf, index, latest.size, proofHashes(proof.hashes), latest.rootHash))) {
    throw new Failure(`the inclusion proof does not lead from the entry's leaf hash to the root of the checkpoint of tree size ${latest.size}`);
  }
  return `included in the log at tree size ${latest.size} (inclusion proof of ${proof.hashes.length} hashes to the signed root).`;
}

/** The "Verify inclusion" button and its result; the check also runs once right away. */
export function inclusionCheck(entry: LogEntry, leaf: Uint8Array): HTMLElement {
  const status = h('div');
  const button = h('button', { type: 'button', onclick: () => void run() }, 'Verify inclusion');
  const run = () => act(button, status, () => verdict(() => checkInclusion(entry, leaf)));
  void run();
  return h('div', {}, h('div', { class: 'actions' }, button), status);
}
