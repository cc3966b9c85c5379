// Checking the registry's transparency log on the client: open the signed checkpoint with the log's pinned
// verifier key, then check inclusion and consistency proofs against its root. WebCrypto underneath, so the
// Node and the browser entry export this one module; the server's node:crypto path runs the same algorithms.
import { type Checkpoint, parseCheckpoint } from '../tlog/checkpoint.ts';
import { HASH_SIZE } from '../tlog/hash-bytes.ts';
import { decodeHex } from '../tlog/hex.ts';
import { openNote } from '../tlog/web-note.ts';

export { type Checkpoint, CheckpointError, parseCheckpoint } from '../tlog/checkpoint.ts';
export { NoteError, openNote } from '../tlog/web-note.ts';
export { leafHash, verifyConsistency, verifyInclusion } from '../tlog/web-verify.ts';

/**
 * The checkpoint in `note` (GetCheckpointResponse.checkpoint) once its signature by `verifierKey` verifies;
 * pin the key out of band rather than trusting the one the server sends. Throws NoteError or CheckpointError.
 */
export async function openCheckpoint(note: string, verifierKey: string): Promise<Checkpoint> {
  return parseCheckpoint((await openNote(note, verifierKey)).text);
}

/** A hash as the API writes it (lowercase hex: leaf_hash, proof hashes) as bytes; RangeError if it is not one. */
export function hashFromHex(text: string): Uint8Array {
  if (!new RegExp(`^[0-9a-f]{${HASH_SIZE * 2}}$`).test(text)) throw new RangeError(`${JSON.stringify(text)} is not a SHA-256 hash in lowercase hex`);
  return decodeHex(text);
}
