import { readFileSync } from 'node:fs';
import { type Client } from '@connectrpc/connect';
import { type GetCheckpointResponse, type TransparencyLogService } from '../../gen/atr/v1/transparency_log_pb.js';
import { parseCheckpoint } from '../tlog/checkpoint.ts';
import { HASH_SIZE } from '../tlog/hash.ts';
import { openNote, parseVerifierKey } from '../tlog/note.ts';
import { type Invocation, type OptionValues, UsageError, stringOption } from './command.ts';
import { type Field } from './output.ts';

// What every log command shares: the client, the checkpoints it verified, the verifier key it pinned, hashes in hex.

export type LogClient = Client<typeof TransparencyLogService>;

/** A checkpoint whose signature by `verifierKey` verified; size and root are read from the signed text only. */
export interface SignedCheckpoint {
  readonly note: string;
  readonly verifierKey: string;
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
}

/** A check failed: what the server sent does not prove what it should. Reported as FAIL, never as a crash. */
export class Failure extends Error {
  override readonly name = 'Failure';
}

export const keyOptions = {
  key: { type: 'string' },
  'key-file': { type: 'string' },
} as const;

export const KEY_SYNOPSIS = '[--key VKEY | --key-file F]';

export const KEY_HELP =
  "pin the log's verifier key with --key or --key-file (as published by the operator, or `GET /log/key`); " +
  'without it the key the server reports is used, which proves only that the server signed what it sent';

/** A TransparencyLogService client over the transport the global --server and --protocol choose. */
export function logClient(invocation: Invocation): LogClient {
  return invocation.clients().log;
}

/** The verifier key pinned with --key or --key-file, checked for form; undefined when neither is given. */
export function pinnedKey(values: OptionValues): string | undefined {
  const inline = stringOption(values, 'key');
  const file = stringOption(values, 'key-file');
  if (inline !== undefined && file !== undefined) throw new UsageError('give --key or --key-file, not both');
  const key = inline ?? (file === undefined ? undefined : readFileSync(file, 'utf8').trim());
  if (key === undefined) return undefined;
  try {
    parseVerifierKey(key);
  } catch (error) {
    throw new UsageError(`${inline === undefined ? `--key-file ${file ?? ''}` : '--key'}: ${(error as Error).message}`);
  }
  return key;
}

export function verifyCheckpoint(note: string, verifierKey: string): SignedCheckpoint {
  try {
    const { origin, size, rootHash } = parseCheckpoint(openNote(note, verifierKey).text);
    return { note, verifierKey, origin, size, rootHash };
  } catch (error) {
    throw new Failure(`the checkpoint does not verify with the key ${verifierKey}: ${(error as Error).message}`);
  }
}

/** The server's checkpoint, verified with `key`; the size and root it reports beside the note must be the signed ones. */
export function verifyResponse(response: GetCheckpointResponse, key: string): SignedCheckpoint {
  const signed = verifyCheckpoint(response.checkpoint, key);
  if (response.treeSize !== BigInt(signed.size) || response.rootHash !== hex(signed.rootHash)) {
    throw new Failure(
      `the server reports size ${response.treeSize} and root ${response.rootHash}, ` +
        `but its signed checkpoint says size ${signed.size} and root ${hex(signed.rootHash)}`,
    );
  }
  return signed;
}

/** The latest checkpoint, verified with the pinned key, else with the key the server reports. */
export async function latestCheckpoint(log: LogClient, pinned: string | undefined): Promise<{ response: GetCheckpointResponse; signed: SignedCheckpoint }> {
  const response = await log.getCheckpoint({});
  return { response, signed: verifyResponse(response, pinned ?? response.verifierKey) };
}

export function checkpointFields(signed: SignedCheckpoint): Field[] {
  return [
    ['origin', signed.origin],
    ['size', String(signed.size)],
    ['root hash', hex(signed.rootHash)],
    ['verifier key', signed.verifierKey],
  ];
}

export function sizeArgument(raw: string | undefined, name: string): number {
  if (raw === undefined || !/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new UsageError(`${name} must be a whole number, not ${JSON.stringify(raw ?? '')}`);
  }
  return Number(raw);
}

export function rootOption(values: OptionValues, name: string): Uint8Array | undefined {
  const raw = stringOption(values, name);
  if (raw === undefined) return undefined;
  const root = hashFromHex(raw.toLowerCase());
  if (root === undefined) throw new UsageError(`--${name} must be a SHA-256 hash in hex (64 digits)`);
  return root;
}

export function decodeProof(hashes: readonly string[]): Uint8Array[] {
  return hashes.map((value, i) => hashFromHex(value) ?? failure(`proof hash ${i} is not a SHA-256 hash in lowercase hex`));
}

function hashFromHex(value: string): Uint8Array | undefined {
  return new RegExp(`^[0-9a-f]{${HASH_SIZE * 2}}$`).test(value) ? Buffer.from(value, 'hex') : undefined;
}

export const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

export const hexOrUnknown = (bytes: Uint8Array | undefined) => (bytes === undefined ? 'unknown (not verifiable)' : hex(bytes));

export const indent = (text: string) => text.trimEnd().replace(/^/gm, '  ');

function failure(message: string): never {
  throw new Failure(message);
}
