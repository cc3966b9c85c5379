// What this browser trusts about the log, kept in localStorage as `atr log monitor` keeps its state file: the
// verifier key (the server's on first use, unless the user pins the operator's) and the last checkpoint verified
// with it, from which the next visit proves that the log only grew.
import { type GetCheckpointResponse, openCheckpoint } from '../../../sdk/browser.ts';
import { api } from '../session.ts';
import { hex } from './hex.ts';
import { Failure } from './verdict.ts';

const KEY_ITEM = 'atr.log.verifierKey';
const KEY_SOURCE_ITEM = 'atr.log.verifierKeySource';
const CHECKPOINT_ITEM = 'atr.log.checkpoint';
const CHECKPOINT_KEY_ITEM = 'atr.log.checkpointKey';

export interface TrustedKey {
  readonly key: string;
  /** 'server' when taken from the server on first use, 'user' when the user pasted it. */
  readonly source: 'server' | 'user';
}

/** A checkpoint whose signature by `verifierKey` verified; size and root are read from the signed text only. */
export interface SignedCheckpoint {
  readonly note: string;
  readonly verifierKey: string;
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
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

export async function openSigned(note: string, verifierKey: string): Promise<SignedCheckpoint> {
  try {
    const { origin, size, rootHash } = await openCheckpoint(note, verifierKey);
    return { note, verifierKey, origin, size, rootHash };
  } catch (error) {
    throw new Failure(`the checkpoint does not verify with the key ${verifierKey}: ${(error as Error).message}`);
  }
}

/** The server's checkpoint, verified with `key`; the size and root it reports beside the note must be the signed ones. */
export async function verifyResponse(response: GetCheckpointResponse, key: string): Promise<SignedCheckpoint> {
  const signed = await openSigned(response.checkpoint, key);
  if (response.treeSize !== BigInt(signed.size) || response.rootHash !== hex(signed.rootHash)) {
    throw new Failure(
      `the server reports tree size ${response.treeSize} and root ${response.rootHash}, ` +
        `but its signed checkpoint says tree size ${signed.size} and root ${hex(signed.rootHash)}`,
    );
  }
  return signed;
}

/** The latest checkpoint and the key to verify it with. */
export async function latestCheckpoint(): Promise<{ response: GetCheckpointResponse; key: TrustedKey }> {
  const response = await api().log.getCheckpoint({});
  return { response, key: trustedKey(response.verifierKey) };
}

/** The latest checkpoint once it verified with the trusted key; throws Failure when it does not. */
export async function verifiedLatest(): Promise<SignedCheckpoint> {
  const { response, key } = await latestCheckpoint();
  return verifyResponse(response, key.key);
}

/** The note of the last checkpoint verified with `verifierKey` in this browser, if any. */
export function rememberedCheckpoint(verifierKey: string): string | undefined {
  return localStorage.getItem(CHECKPOINT_KEY_ITEM) === verifierKey ? (localStorage.getItem(CHECKPOINT_ITEM) ?? undefined) : undefined;
}

export function remember(checkpoint: SignedCheckpoint): void {
  localStorage.setItem(CHECKPOINT_ITEM, checkpoint.note);
  localStorage.setItem(CHECKPOINT_KEY_ITEM, checkpoint.verifierKey);
}
