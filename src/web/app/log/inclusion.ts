// Proving an entry is in the log: its inclusion proof, from the leaf hash computed here to the root of the latest
// checkpoint verified with the trusted key; the SDK's checkInclusion, which `atr log prove` runs too.
import { LogCheckFailure, type LogEntry, checkInclusion } from '../../../sdk/browser.ts';
import { h } from '../dom.ts';
import { api } from '../session.ts';
import { act } from '../states.ts';
import { verifiedLatest } from './trust.ts';
import { verdict } from './verdict.ts';

/** What the server proved about the entry whose data hashes to `leaf`; throws LogCheckFailure when it proved nothing. */
async function proveInclusion(entry: LogEntry, leaf: Uint8Array): Promise<string> {
  const latest = await verifiedLatest();
  const index = Number(entry.index);
  if (index >= latest.size) {
    throw new LogCheckFailure(`entry ${index} is not in the latest checkpoint (tree size ${latest.size}) yet; it will be in the next one`);
  }
  const proof = await checkInclusion(leaf, index, latest, api().log.getInclusionProof);
  return `included in the log at tree size ${latest.size} (inclusion proof of ${proof.length} hashes to the signed root).`;
}

/** The "Verify inclusion" button and its result; the check also runs once right away. */
export function inclusionCheck(entry: LogEntry, leaf: Uint8Array): HTMLElement {
  const status = h('div');
  const button = h('button', { type: 'button', onclick: () => void run() }, 'Verify inclusion');
  const run = () => act(button, status, () => verdict(() => proveInclusion(entry, leaf)));
  void run();
  return h('div', {}, h('div', { class: 'actions' }, button), status);
}
