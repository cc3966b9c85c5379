// The latest checkpoint as the server publishes it, its signature verified here with the key this browser trusts,
// and the form that pins another key (the operator's, from its documentation).
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { type GetCheckpointResponse, type SignedCheckpoint, verifyCheckpointResponse } from '../../../sdk/browser.ts';
import { field, h } from '../dom.ts';
import { load } from '../states.ts';
import { fact } from './facts.ts';
import { type TrustedKey, latestCheckpoint, pinKey } from './trust.ts';
import { verdict } from './verdict.ts';

/** Shows the latest checkpoint in `element`; resolves with it when its signature verified. */
export async function showCheckpoint(element: HTMLElement, pinned: () => void): Promise<SignedCheckpoint | undefined> {
  let signed: SignedCheckpoint | undefined;
  await load(element, 'the latest checkpoint', async () => {
    const { response, key } = await latestCheckpoint();
    const result = await verdict(async () => {
      signed = await verifyCheckpointResponse(response, key.key);
      return 'the checkpoint is signed by the trusted key, and its tree size and root hash are the ones the server reports.';
    });
    return [result, checkpointFacts(response), keyFacts(key, response.verifierKey), pinForm(key, pinned)];
  });
  return signed;
}

function checkpointFacts(response: GetCheckpointResponse): HTMLElement {
  return h(
    'dl',
    { class: 'facts' },
    fact('Origin', response.checkpoint.split('\n', 1)[0]),
    fact('Tree size', String(response.treeSize)),
    fact('Root hash', h('code', {}, response.rootHash)),
    fact('Published', response.publishedAt && timestampDate(response.publishedAt).toISOString()),
    fact('Signed note', h('pre', {}, response.checkpoint)),
  );
}

function keyFacts(key: TrustedKey, published: string): HTMLElement {
  const source =
    key.source === 'server'
      ? "Taken from the server the first time this browser opened the log (trust on first use); to be sure, pin the key from the operator's documentation below."
      : 'Pinned by you.';
  return h(
    'dl',
    { class: 'facts' },
    fact('Verifier key', [h('code', {}, key.key), h('br'), h('small', { class: 'hint' }, source)]),
    key.key !== published && fact('Server publishes', h('code', {}, published)),
  );
}

function pinForm(key: TrustedKey, pinned: () => void): HTMLFormElement {
  const input = h('input', { name: 'verifier_key', value: key.key, required: true, autocomplete: 'off', spellcheck: 'false' });
  const pin = (event: Event) => {
    event.preventDefault();
    pinKey({ key: input.value.trim(), source: 'user' });
    pinned();
  };
  return h(
    'form',
    { 'aria-label': 'Pin the verifier key', onsubmit: pin },
    field('Verifier key you trust', input, 'As the operator publishes it: <name>+<key ID>+<base64 key>. Kept in this browser.'),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Pin this key')),
  );
}
