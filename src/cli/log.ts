import { GetCheckpointResponseSchema, GetEntryResponseSchema } from '../../gen/atr/v1/transparency_log_pb.js';
import { LogCheckFailure, checkLeafHash } from '../sdk/log-checks.ts';
import { leafHash } from '../tlog/hash.ts';
import { LeafError, type LogEvent, decodeLeaf } from '../tlog/leaf.ts';
import { type Invocation, UsageError, errorLine, flagOption } from './command.ts';
import { type Field, time } from './output.ts';
import {
  checkpointFields,
  latestCheckpoint,
  logClient,
  pinnedKey,
  rootOption,
  sizeArgument,
} from './log-checkpoint.ts';
import { expectEntry, printVerdict, proveConsistency, proveInclusion } from './log-proof.ts';

export async function checkpoint(invocation: Invocation): Promise<number> {
  const { values, out } = invocation;
  const pinned = pinnedKey(values);
  const log = logClient(invocation);
  if (flagOption(values, 'publish')) await log.publishCheckpoint({});
  const { response, signed } = await latestCheckpoint(log, pinned);
  if (out.json) {
    out.message(GetCheckpointResponseSchema, response);
    return 0;
  }
  out.fields([
    ...checkpointFields(signed),
    ['signature', pinned === undefined ? 'verified with the key the server reports (pin it with --key)' : 'verified with the pinned key'],
    ['published', time(response.publishedAt)],
  ]);
  out.line();
  out.line(signed.note.trimEnd());
  return 0;
}

export async function entry(invocation: Invocation): Promise<number> {
  const { out } = invocation;
  const index = sizeArgument(invocation.args[0], 'index');
  const response = await logClient(invocation).getEntry({ index: BigInt(index) });
  const logged = expectEntry(response.entry, index);
  const problems: string[] = [];
  try {
    checkLeafHash(logged.leafHash, leafHash(logged.data));
  } catch (error) {
    if (!(error instanceof LogCheckFailure)) throw error;
    problems.push(error.message);
  }
  let event: Field[] = [];
  try {
    event = eventFields(decodeLeaf(logged.data));
  } catch (error) {
    if (!(error instanceof LeafError)) throw error;
    problems.push(`the entry's data is not a log event: ${error.message}`);
  }
  if (out.json) out.message(GetEntryResponseSchema, response);
  else out.fields([['index', String(logged.index)], ['leaf hash', logged.leafHash], ...event]);
  for (const problem of problems) errorLine(problem);
  return problems.length === 0 ? 0 : 1;
}

export async function prove(invocation: Invocation): Promise<number> {
  const index = sizeArgument(invocation.args[0], 'index');
  const pinned = pinnedKey(invocation.values);
  return printVerdict(invocation.out, await proveInclusion(logClient(invocation), index, pinned));
}

export async function consistency(invocation: Invocation): Promise<number> {
  const { args, values } = invocation;
  const first = sizeArgument(args[0], 'first size');
  const second = args[1] === undefined ? undefined : sizeArgument(args[1], 'second size');
  if (second !== undefined && first > second) throw new UsageError(`the first size (${first}) must not exceed the second (${second})`);
  const given = { first: rootOption(values, 'first-root'), second: rootOption(values, 'second-root') };
  const verdict = await proveConsistency(logClient(invocation), first, second, given, pinnedKey(values));
  return printVerdict(invocation.out, verdict);
}

/** The event decoded here from the leaf data, since the data, not the server's decoding of it, is what is hashed. */
function eventFields(event: LogEvent): Field[] {
  return [
    ['event', event.event_type],
    ['agent', event.agent_name],
    ['fingerprint', event.cert_fingerprint],
    ['serial', event.cert_serial],
    ['status', event.status],
    ['reason', event.reason],
    ['time', event.timestamp],
    ['actor', event.actor],
  ];
}
