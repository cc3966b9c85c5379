// What this browser trusts about the log, kept in localStorage as `atr log monitor` keeps its state file: the
// verifier key (the server's on first use, unless the user pins the operator's) and the last checkpoint verified
// with it, from which the next visit proves that the log only grew.
import { type GetCheckpointResponse, type SignedCheckpoint, verifyCheckpointResponse } from '../../../sdk/browser.ts';
import { api } from '../session.ts';

const KEY_ITEM = 'atr.log.verifierKey';
const KEY_SOURCE_ITEM = 'atr.log.verifierKeySource';
const CHECKPOINT_ITEM = 'atr.log.checkpoint';
const CHECKPOINT_KEY_ITEM = 'atr.log.checkpointKey';

export interface TrustedKey {
  readonly key: string;
  /** 'server' when taken from the server on first use, 'user' when the user pasted it. */
  readonly source: 'server' | 'user';
}

/** The pinned key; on first use the one the server publishes, which is pinned from then on. */
export function trustedKey(published: string): TrustedKey {
  const key = localStorage.getItem(KEY_ITEM);
  if (key !== null) return { key, source: localStorage.getItem(KEY_SOURCE_ITEM) === 'user' ? 'user' : 'server' };
  pinKey({ key: published, source: 'server' });
  return { key: published, source: 'server' };
}

export function pinKey({ key, source }: TrustedKey): void {
  localStorage.setItem(KEY_ITEM, key);
  localStorage.setItem(KEY_SOURCE_ITEM, source);
}

/** The latest checkpoint and the key to verify it with. */
export async function latestCheckpoint(): Promise<{ response: GetCheckpointResponse; key: TrustedKey }> {
  const response = await api().log.getCheckpoint({});
  return { response, key: trustedKey(response.verifierKey) };
}

/** The latest checkpoint once it verified with the trusted key; throws LogCheckFailure when it does not. */
export async function verifiedLatest(): Promise<SignedCheckpoint> {
  const { response, key } = await latestCheckpoint();
  return verifyCheckpointResponse(response, key.key);
}

/** The note of the last checkpoint verified with `verifierKey` in this browser, if any. */
export function rememberedCheckpoint(verifierKey: string): string | undefined {
  return localStorage.getItem(CHECKPOINT_KEY_ITEM) === verifierKey ? (localStorage.getItem(CHECKPOINT_ITEM) ?? undefined) : undefined;
}

export function remember(checkpoint: SignedCheckpoint): void {
  localStorage.setItem(CHECKPOINT_ITEM, checkpoint.note);
  localStorage.setItem(CHECKPOINT_KEY_ITEM, checkpoint.verifierKey);
}
