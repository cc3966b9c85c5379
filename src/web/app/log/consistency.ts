// Proving the log only grew: from the checkpoint this browser verified last time, and from any older checkpoint the
// user pastes, to the latest one; the SDK's checkExtension, which `atr log monitor` runs too.
import { type SignedCheckpoint, checkExtension, openSignedCheckpoint } from '../../../sdk/browser.ts';
import { type Child, field, h } from '../dom.ts';
import { api } from '../session.ts';
import { act, empty } from '../states.ts';
import { remember, rememberedCheckpoint, verifiedLatest } from './trust.ts';
import { verdict } from './verdict.ts';

/** How `latest` extends `older`, once the server proved it does; throws LogCheckFailure when it does not. */
async function checkConsistency(older: SignedCheckpoint, latest: SignedCheckpoint): Promise<string> {
  const proof = await checkExtension(older, latest, api().log.getConsistencyProof);
  return proof === 'unchanged'
    ? `the log is unchanged at tree size ${latest.size}.`
    : `the tree of size ${latest.size} extends the tree of size ${older.size} (consistency proof of ${proof.length} hashes).`;
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
    const message = await checkConsistency(await openSignedCheckpoint(note, latest.verifierKey), latest);
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
        return checkConsistency(await openSignedCheckpoint(pasted, latest.verifierKey), latest);
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
