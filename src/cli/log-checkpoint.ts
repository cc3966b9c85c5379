import { readFileSync } from 'node:fs';
import { type Client } from '@connectrpc/connect';
import { type GetCheckpointResponse, TransparencyLogService } from '../../gen/atr/v1/transparency_log_pb.js';
import { type SignedCheckpoint, hashToHex, verifyCheckpointResponse } from '../sdk/log-checks.ts';
import { hashFromHex } from '../sdk/transparency-log.ts';
import { parseVerifierKey } from '../tlog/note.ts';
import { type Invocation, type OptionValues, UsageError, stringOption } from './command.ts';
import { type Field } from './output.ts';

// What every log command shares: the client, the verifier key it pinned, the latest checkpoint verified with it,
// hashes in hex. The checks themselves are the SDK's (log-checks.ts), which the web UI's log page runs too.

export type LogClient = Client<typeof TransparencyLogService>;

/** A TransparencyLogService client over the transport the global --server and --protocol choose. */
export function logClient(invocation: Invocation): LogClient {
  return invocation.client(TransparencyLogService);
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

/** The latest checkpoint, verified with the pinned key, else with the key the server reports. */
export async function latestCheckpoint(log: LogClient, pinned: string | undefined): Promise<{ response: GetCheckpointResponse; signed: SignedCheckpoint }> {
  const response = await log.getCheckpoint({});
  return { response, signed: await verifyCheckpointResponse(response, pinned ?? response.verifierKey) };
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
  try {
    return hashFromHex(raw.toLowerCase());
  } catch {
    throw new UsageError(`--${name} must be a SHA-256 hash in hex (64 digits)`);
  }
}

export const hex = hashToHex;

export const hexOrUnknown = (bytes: Uint8Array | undefined) => (bytes === undefined ? 'unknown (not verifiable)' : hex(bytes));

export const indent = (text: string) => text.trimEnd().replace(/^/gm, '  ');
