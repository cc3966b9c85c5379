// Proving the log only grew: from the checkpoint this browser verified last time, and from any older checkpoint the
// user pastes, to the latest one; the checks of `atr log monitor`, over the SDK's verifyConsistency.
import { verifyConsistency } from '../../../sdk/browser.ts';
import { type Child, field, h } from '../dom.ts';
import { api } from '../session.ts';
import { act, empty } from '../states.ts';
import { hex, proofHashes } from './hex.ts';
import { type SignedCheckpoint, openSigned, remember, rememberedCheckpoint, verifiedLatest } from './trust.ts';
import { Failure, verdict } from './verdict.ts';

/** How `latest` extends `older`, once the server proved it does; throws Failure when it does not. */
export async function checkConsistency(older: SignedCheckpoint, latest: SignedCheckpoint): Promise<string> {
  if (latest.origin !== older.origin) throw new Failure(`the origin changed from ${older.origin} to ${latest.origin}`);
  if (latest.size < older.size) throw new Failure(`the log shrank from tree size ${older.size} to ${latest.size}`);
  if (latest.size === older.size) {
    if (hex(latest.rootHash) !== hex(older.rootHash)) throw new Failure(`two different roots for tree size ${latest.size}: the log forked`);
    return `the log is unchanged at tree size ${latest.size}.`;
  }
  const proof = await api().log.getConsistencyProof({ first: BigInt(older.size), second: BigInt(latest.size) });
  if (proof.first !== BigInt(older.size) || proof.second !== BigInt(latest.size)) {
    throw new Failure(`asked for a proof from tree size ${older.size} to ${latest.size}, got one from ${proof.first} to ${proof.second}`);
  }
  if (!(await verifyConsistency(older.size, latest.size, older.rootHash, latest.rootHash, proofHashes(proof.hashes)))) {
    throw new Failure(`the consistency proof does not show that the tree of size ${latest.size} extends the tree of size ${older.size}`);
  }
  return `the tree of size ${latest.size} extends the tree of size ${older.size} (consistency proof of ${proof.hashes.length} hashes).`;
}

/** Checks `latest` against the checkpoint remembered from the last visit, and remembers it once it is proven. */
export async function sinceLastVisit(latest: SignedCheckpoint): Promise<Child> {
  const note = rememberedCheckpoint(latest.verifierKey);
  if (note === undefined) {
    remember(latest);
    return empty(`No earlier checkpoint was verified with this key in this browser. This one (tree size ${latest.size}) is remembered; the next visit proves the log grew from it.`);
  }
  // A failed check keeps the old checkpoint remembered, so the failure shows again until the log proves itself.
  return verdict(async () => {
    const message = await checkConsistency(await openSigned(note, latest.verifierKey), latest);
    remember(latest);
    return `since the checkpoint this browser verified before, ${message}`;
  });
}

export function olderCheckpointForm(): HTMLFormElement {
  const note = h('textarea', { name: 'checkpoint', rows: 6, required: true, spellcheck: 'false' });
  const submit = h('button', { type: 'submit' }, 'Check consistency');
  const status = h('div');
  const check = (event: Event) => {
    event.preventDefault();
    // Pasting tends to lose the note's final newline or add carriage returns; neither is part of what was signed.
    const pasted = `${note.value.replace(/\r\n/g, '\n').trim()}\n`;
    void act(submit, status, () =>
      verdict(async () => {
        const latest = await verifiedLatest();
        return checkConsistency(await openSigned(pasted, latest.verifierKey), latest);
      }),
    );
  };
  return h(
    'form',
    { 'aria-label': 'Check consistency from an older checkpoint', onsubmit: check },
    field('Older checkpoint', note, 'A signed note this log published before, verified with the same key.'),
    h('div', { class: 'actions' }, submit),
    status,
  );
}
