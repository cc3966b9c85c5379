// The C2SP tlog-checkpoint note text (c2sp.org/tlog-checkpoint): origin, tree size, root hash, then
// optional extension lines. Parsing is strict because a checkpoint is what clients pin their trust to: one
// tree head must have exactly one text, or two logs' signatures could disagree about what they signed.
import { decodeBase64, encodeBase64 } from './base64.ts';
import { HASH_SIZE } from './hash-bytes.ts';

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
  /** Opaque lines after the root hash; the spec discourages them, so the log writes none. */
  readonly extensions?: readonly string[];
}

/** A checkpoint text that is not well formed. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;
// Lines are joined with newlines, and notes allow no other control character.
const BAD_LINE_CHARACTER = /[\u0000-\u001f]|\p{Cs}/u;

export function formatCheckpoint(checkpoint: Checkpoint): string {
  const { origin, size, rootHash, extensions = [] } = checkpoint;
  if (!isLine(origin)) throw new RangeError('checkpoint origin must be one non-empty line of text');
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`checkpoint size ${size} is not a tree size`);
  if (rootHash.length !== HASH_SIZE) throw new RangeError('checkpoint root hash must be 32 bytes');
  if (!extensions.every(isLine)) throw new RangeError('checkpoint extension lines must be non-empty lines of text');
  return [origin, String(size), encodeBase64(rootHash), ...extensions].map((line) => `${line}\n`).join('');
}

export function parseCheckpoint(text: string): Checkpoint & { readonly extensions: readonly string[] } {
  if (!text.endsWith('\n')) throw new CheckpointError('a checkpoint ends with a newline');
  const [origin, size, root, ...extensions] = text.slice(0, -1).split('\n');
  if (origin === undefined || !isLine(origin)) throw new CheckpointError('checkpoint origin must be a non-empty line');
  if (size === undefined || !DECIMAL.test(size) || !Number.isSafeInteger(Number(size))) {
    throw new CheckpointError('checkpoint tree size must be a decimal number without leading zeros, below 2^53');
  }
  const rootHash = root === undefined ? undefined : decodeBase64(root);
  if (rootHash?.length !== HASH_SIZE) {
    throw new CheckpointError('checkpoint root hash must be the base64 of 32 bytes');
  }
  if (!extensions.every(isLine)) throw new CheckpointError('checkpoint extension lines must not be empty');
  return { origin, size: Number(size), rootHash, extensions };
}

function isLine(line: string): boolean {
  return line !== '' && !BAD_LINE_CHARACTER.test(line);
}
