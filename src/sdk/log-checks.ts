// What a client of the transparency log checks in the server's answers, so that `atr log` and the web UI's log
// page prove the same things in the same words: the checkpoint opens with the pinned key, the size and root
// reported beside it are the signed ones, each proof answers the question asked and verifies, and a newer
// checkpoint extends the one trusted before. WebCrypto underneath (transparency-log.ts): no `node:` import.
import type { GetCheckpointResponse, GetConsistencyProofResponse, GetInclusionProofResponse } from '../../gen/atr/v1/transparency_log_pb.js';
import { hashesEqual } from '../tlog/hash-bytes.ts';
import { encodeHex } from '../tlog/hex.ts';
import { hashFromHex, openCheckpoint, verifyConsistency, verifyInclusion } from './transparency-log.ts';

/** A checkpoint whose signature by `verifierKey` verified; size and root are read from the signed text only. */
export interface SignedCheckpoint {
  readonly note: string;
  readonly verifierKey: string;
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
}

/**
 * What the server sent does not prove what it should: evidence against the log, to report as a failed check.
 * Any other error (the network, a refused call) says nothing about the log.
 */
export class LogCheckFailure extends Error {
  override readonly name = 'LogCheckFailure';
}

// The caller fetches proofs with its own client, so it chooses the transport and can keep what the server sent.
export type FetchConsistencyProof = (request: { first: bigint; second: bigint }) => Promise<Pick<GetConsistencyProofResponse, 'first' | 'second' | 'hashes'>>;
export type FetchInclusionProof = (request: { index: bigint; treeSize: bigint }) => Promise<Pick<GetInclusionProofResponse, 'index' | 'treeSize' | 'hashes'>>;

/** A hash as the API writes it, lowercase hex: the inverse of hashFromHex. */
export const hashToHex: (hash: Uint8Array) => string = encodeHex;

/** The checkpoint in `note` once its signature by `verifierKey` verifies; LogCheckFailure when it does not. */
export async function openSignedCheckpoint(note: string, verifierKey: string): Promise<SignedCheckpoint> {
  try {
    const { origin, size, rootHash } = await openCheckpoint(note, verifierKey);
    return { note, verifierKey, origin, size, rootHash };
  } catch (error) {
    throw new LogCheckFailure(`the checkpoint does not verify with the key ${verifierKey}: ${(error as Error).message}`);
  }
}

/** The checkpoint of a GetCheckpoint answer, verified with `verifierKey`; the size and root reported beside it must be the signed ones. */
export async function verifyCheckpointResponse(
  response: Pick<GetCheckpointResponse, 'checkpoint' | 'treeSize' | 'rootHash'>,
  verifierKey: string,
): Promise<SignedCheckpoint> {
  const signed = await openSignedCheckpoint(response.checkpoint, verifierKey);
  const signedRoot = hashToHex(signed.rootHash);
  if (response.treeSize !== BigInt(signed.size) || response.rootHash !== signedRoot) {
    throw new LogCheckFailure(
      `the server reports size ${response.treeSize} and root ${response.rootHash}, ` +
        `but its signed checkpoint says size ${signed.size} and root ${signedRoot}`,
    );
  }
  return signed;
}

/** A proof's hashes as bytes; one that is not a hash as the API writes it fails the check. */
export function decodeProof(hashes: readonly string[]): Uint8Array[] {
  return hashes.map((value, i) => {
    try {
      return hashFromHex(value);
    } catch {
      throw new LogCheckFailure(`proof hash ${i} is not a SHA-256 hash in lowercase hex`);
    }
  });
}

/** The consistency proof from size `first` to `second`, once the answer is for those sizes; not yet verified. */
export async function consistencyProof(first: number, second: number, fetch: FetchConsistencyProof): Promise<Uint8Array[]> {
  const answer = await fetch({ first: BigInt(first), second: BigInt(second) });
  if (answer.first !== BigInt(first) || answer.second !== BigInt(second)) {
    throw new LogCheckFailure(`asked for a proof from ${first} to ${second}, got one from ${answer.first} to ${answer.second}`);
  }
  return decodeProof(answer.hashes);
}

/**
 * How `latest` extends `older` (both verified with the trusted key): 'unchanged', or the consistency proof that
 * the older tree is a prefix of the latest. A log that changed origin, shrank, forked or cannot prove it only
 * grew fails with LogCheckFailure.
 */
export async function checkExtension(older: SignedCheckpoint, latest: SignedCheckpoint, fetch: FetchConsistencyProof): Promise<'unchanged' | Uint8Array[]> {
  if (latest.origin !== older.origin) throw new LogCheckFailure(`the origin changed from ${older.origin} to ${latest.origin}`);
  if (latest.size < older.size) throw new LogCheckFailure(`the log shrank from size ${older.size} to ${latest.size}`);
  if (latest.size === older.size) {
    if (!hashesEqual(latest.rootHash, older.rootHash)) throw new LogCheckFailure(`two different roots for size ${latest.size}: the log forked`);
    return 'unchanged';
  }
  const proof = await consistencyProof(older.size, latest.size, fetch);
  if (!(await verifyConsistency(older.size, latest.size, older.rootHash, latest.rootHash, proof))) {
    throw new LogCheckFailure(`the consistency proof from size ${older.size} to ${latest.size} does not verify`);
  }
  return proof;
}

/** The leaf hash the server reports beside an entry must be the hash of the entry's data, computed by the client. */
export function checkLeafHash(reported: string, computed: Uint8Array): void {
  if (reported !== hashToHex(computed)) {
    throw new LogCheckFailure(`the server reports leaf hash ${reported}, but the entry's data hashes to ${hashToHex(computed)}`);
  }
}

/** The inclusion proof that `leaf` is entry `index` of the tree `checkpoint` signed; LogCheckFailure when it is not one. */
export async function checkInclusion(leaf: Uint8Array, index: number, checkpoint: SignedCheckpoint, fetch: FetchInclusionProof): Promise<Uint8Array[]> {
  const { size, rootHash } = checkpoint;
  const answer = await fetch({ index: BigInt(index), treeSize: BigInt(size) });
  if (answer.index !== BigInt(index) || answer.treeSize !== BigInt(size)) {
    throw new LogCheckFailure(`asked for entry ${index} in the tree of size ${size}, got entry ${answer.index} in size ${answer.treeSize}`);
  }
  const proof = decodeProof(answer.hashes);
  if (!(await verifyInclusion(leaf, index, size, proof, rootHash))) {
    throw new LogCheckFailure("the inclusion proof does not lead from the entry's leaf hash to the checkpoint's root");
  }
  return proof;
}
