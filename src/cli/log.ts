import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, ConnectError } from '@connectrpc/connect';
import {
  type GetCheckpointResponse,
  GetCheckpointResponseSchema,
  GetEntryResponseSchema,
  type LogEntry,
  type TransparencyLogService,
} from '../../gen/atr/v1/transparency_log_pb.js';
import { writeFileAtomic } from '../pki/ca-files.ts';
import { parseCheckpoint } from '../tlog/checkpoint.ts';
import { EMPTY_ROOT, HASH_SIZE, hashesEqual, leafHash } from '../tlog/hash.ts';
import { LeafError, type LogEvent, decodeLeaf } from '../tlog/leaf.ts';
import { openNote, parseVerifierKey } from '../tlog/note.ts';
import { verifyConsistency, verifyInclusion } from '../tlog/verify.ts';
import {
  type Command,
  type Invocation,
  type OptionValues,
  UsageError,
  flagOption,
  integerOption,
  stringOption,
} from './command.ts';
import { type Field, type Output, errorLine, time } from './output.ts';

type LogClient = Client<typeof TransparencyLogService>;

/** A checkpoint whose signature by `verifierKey` verified; size and root are read from the signed text only. */
interface SignedCheckpoint {
  readonly note: string;
  readonly verifierKey: string;
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
}

/** A check failed: what the server sent does not prove what it should. Reported as FAIL, never as a crash. */
class Failure extends Error {
  override readonly name = 'Failure';
}

/** Exit code of `log monitor` when the log is inconsistent with what it verified before. */
const INCONSISTENT = 3;
const DEFAULT_STATE_FILE = './var/log-monitor.json';
const DEFAULT_INTERVAL_SECONDS = 10;

const keyOptions = {
  key: { type: 'string' },
  'key-file': { type: 'string' },
} as const;

const KEY_SYNOPSIS = '[--key VKEY | --key-file F]';
const KEY_HELP =
  "pin the log's verifier key with --key or --key-file (as published by the operator, or `GET /log/key`); " +
  'without it the key the server reports is used, which proves only that the server signed what it sent';

const checkpoint: Command = {
  name: 'log checkpoint',
  synopsis: `[--publish] ${KEY_SYNOPSIS}`,
  summary: `fetch the latest signed checkpoint and verify its signature (--publish first publishes one); ${KEY_HELP}`,
  options: { publish: { type: 'boolean' }, ...keyOptions },
  arity: 0,
  async run(invocation) {
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
  },
};

const entry: Command = {
  name: 'log entry',
  synopsis: '<index>',
  summary: 'show a log entry and its event, checking that its leaf hash is the hash of its data',
  options: {},
  arity: 1,
  async run(invocation) {
    const { out } = invocation;
    const index = sizeArgument(invocation.args[0], 'index');
    const response = await logClient(invocation).getEntry({ index: BigInt(index) });
    const logged = expectEntry(response.entry, index);
    const computed = hex(leafHash(logged.data));
    const problems = computed === logged.leafHash ? [] : [`the server reports leaf hash ${logged.leafHash}, but the entry's data hashes to ${computed}`];
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
  },
};

const prove: Command = {
  name: 'log prove',
  synopsis: `<index> ${KEY_SYNOPSIS}`,
  summary: `prove locally that an entry is in the latest signed checkpoint; prints OK (exit 0) or FAIL and why (exit 1); ${KEY_HELP}`,
  options: { ...keyOptions },
  arity: 1,
  async run(invocation) {
    const index = sizeArgument(invocation.args[0], 'index');
    const pinned = pinnedKey(invocation.values);
    return printVerdict(invocation.out, await proveInclusion(logClient(invocation), index, pinned));
  },
};

const consistency: Command = {
  name: 'log consistency',
  synopsis: `<first> [<second>] [--first-root HEX] [--second-root HEX] ${KEY_SYNOPSIS}`,
  summary:
    'prove locally that the tree of the second size (default: the latest checkpoint) extends the tree of the first; ' +
    "a size's root is taken from the verified latest checkpoint, or from --first-root/--second-root (roots you verified " +
    'earlier); without a trusted root for each size the proof is printed as UNVERIFIABLE. OK exits 0, anything else 1',
  options: { 'first-root': { type: 'string' }, 'second-root': { type: 'string' }, ...keyOptions },
  arity: [1, 2],
  async run(invocation) {
    const { args, values } = invocation;
    const first = sizeArgument(args[0], 'first size');
    const second = args[1] === undefined ? undefined : sizeArgument(args[1], 'second size');
    if (second !== undefined && first > second) throw new UsageError(`the first size (${first}) must not exceed the second (${second})`);
    const given = { first: rootOption(values, 'first-root'), second: rootOption(values, 'second-root') };
    const verdict = await proveConsistency(logClient(invocation), first, second, given, pinnedKey(values));
    return printVerdict(invocation.out, verdict);
  },
};

const monitor: Command = {
  name: 'log monitor',
  synopsis: `[--state FILE] [--interval SECONDS] [--once] ${KEY_SYNOPSIS}`,
  summary:
    `watch the log: verify every new checkpoint's signature and its consistency with the last one verified, kept in --state ` +
    `(default ${DEFAULT_STATE_FILE}); polls every --interval seconds (default ${DEFAULT_INTERVAL_SECONDS}) until SIGINT, or once ` +
    `with --once; the first run trusts the server's key unless --key/--key-file pins it; exits ${INCONSISTENT} on any inconsistency`,
  options: { state: { type: 'string' }, interval: { type: 'string' }, once: { type: 'boolean' }, ...keyOptions },
  arity: 0,
  async run(invocation) {
    const { values } = invocation;
    const interval = integerOption(values, 'interval') ?? DEFAULT_INTERVAL_SECONDS;
    if (interval < 1) throw new UsageError('--interval must be at least 1 second');
    const watch: Watch = {
      log: logClient(invocation),
      out: invocation.out,
      stateFile: resolve(stringOption(values, 'state') ?? DEFAULT_STATE_FILE),
      pinned: pinnedKey(values),
    };
    const trusted = readState(watch.stateFile, watch.pinned);
    if (flagOption(values, 'once')) return (await poll(watch, trusted)) === undefined ? INCONSISTENT : 0;
    return watchUntilSignal(watch, trusted, interval);
  },
};

export const logCommands: readonly Command[] = [checkpoint, entry, prove, consistency, monitor];

/** A TransparencyLogService client over the transport the global --server and --protocol choose. */
function logClient(invocation: Invocation): LogClient {
  return invocation.clients().log;
}

/** The verifier key pinned with --key or --key-file, checked for form; undefined when neither is given. */
function pinnedKey(values: OptionValues): string | undefined {
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

function verifyCheckpoint(note: string, verifierKey: string): SignedCheckpoint {
  try {
    const { origin, size, rootHash } = parseCheckpoint(openNote(note, verifierKey).text);
    return { note, verifierKey, origin, size, rootHash };
  } catch (error) {
    throw new Failure(`the checkpoint does not verify with the key ${verifierKey}: ${(error as Error).message}`);
  }
}

/** The server's checkpoint, verified with `key`; the size and root it reports beside the note must be the signed ones. */
function verifyResponse(response: GetCheckpointResponse, key: string): SignedCheckpoint {
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
async function latestCheckpoint(log: LogClient, pinned: string | undefined): Promise<{ response: GetCheckpointResponse; signed: SignedCheckpoint }> {
  const response = await log.getCheckpoint({});
  return { response, signed: verifyResponse(response, pinned ?? response.verifierKey) };
}

function checkpointFields(signed: SignedCheckpoint): Field[] {
  return [
    ['origin', signed.origin],
    ['size', String(signed.size)],
    ['root hash', hex(signed.rootHash)],
    ['verifier key', signed.verifierKey],
  ];
}

function expectEntry(logged: LogEntry | undefined, index: number): LogEntry {
  if (logged === undefined) throw new Failure(`the server sent no entry for index ${index}`);
  if (logged.index !== BigInt(index)) throw new Failure(`asked for entry ${index}, the server sent entry ${logged.index}`);
  return logged;
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

/** The outcome of a proof: OK, FAIL (the server's answer does not prove it), or UNVERIFIABLE (no trusted root). */
interface Verdict {
  readonly result: 'OK' | 'FAIL' | 'UNVERIFIABLE';
  readonly summary: string;
  readonly details: Record<string, string | number>;
  readonly proof: readonly string[];
}

function printVerdict(out: Output, { result, summary, details, proof }: Verdict): number {
  if (out.json) {
    out.line(JSON.stringify({ result, summary, ...details, proof }, null, 2));
  } else {
    out.line(`${result}: ${summary}`);
    out.fields(Object.entries(details).map(([key, value]) => [key.replaceAll('_', ' '), String(value)] as const));
    proofLines(out, 'proof', proof);
  }
  return result === 'OK' ? 0 : 1;
}

function proofLines(out: Output, title: string, proof: readonly string[]): void {
  out.line(proof.length === 0 ? `${title}: (no hashes)` : `${title}:`);
  proof.forEach((hash, i) => out.line(`  ${String(i).padStart(2)}  ${hash}`));
}

async function proveInclusion(log: LogClient, index: number, pinned: string | undefined): Promise<Verdict> {
  const details: Record<string, string | number> = { index };
  const proof: string[] = [];
  try {
    const { signed } = await latestCheckpoint(log, pinned);
    Object.assign(details, { tree_size: signed.size, root_hash: hex(signed.rootHash), origin: signed.origin, verifier_key: signed.verifierKey });
    if (index >= signed.size) {
      throw new Error(
        `entry ${index} is not in the latest checkpoint (size ${signed.size}) yet; wait for the next one or run \`atr log checkpoint --publish\``,
      );
    }
    const logged = expectEntry((await log.getEntry({ index: BigInt(index) })).entry, index);
    const computed = leafHash(logged.data);
    details.leaf_hash = hex(computed);
    if (logged.leafHash !== hex(computed)) {
      throw new Failure(`the server reports leaf hash ${logged.leafHash}, but the entry's data hashes to ${hex(computed)}`);
    }
    const response = await log.getInclusionProof({ index: BigInt(index), treeSize: BigInt(signed.size) });
    proof.push(...response.hashes);
    if (response.index !== BigInt(index) || response.treeSize !== BigInt(signed.size)) {
      throw new Failure(`asked for entry ${index} in the tree of size ${signed.size}, got entry ${response.index} in size ${response.treeSize}`);
    }
    if (!verifyInclusion(computed, index, signed.size, decodeProof(response.hashes), signed.rootHash)) {
      throw new Failure("the inclusion proof does not lead from the entry's leaf hash to the checkpoint's root");
    }
    return { result: 'OK', summary: `entry ${index} is in the signed tree of size ${signed.size}`, details, proof };
  } catch (error) {
    if (error instanceof Failure) return { result: 'FAIL', summary: error.message, details, proof };
    throw error;
  }
}

async function proveConsistency(
  log: LogClient,
  first: number,
  secondArgument: number | undefined,
  given: { first: Uint8Array | undefined; second: Uint8Array | undefined },
  pinned: string | undefined,
): Promise<Verdict> {
  const details: Record<string, string | number> = { first_size: first };
  const proof: string[] = [];
  try {
    const { signed: latest } = await latestCheckpoint(log, pinned);
    const second = secondArgument ?? latest.size;
    const largest = Math.max(first, second);
    if (largest > latest.size) throw new Error(`size ${largest} is beyond the latest checkpoint (size ${latest.size})`);
    const firstRoot = trustedRoot(first, given.first, latest, '--first-root');
    const secondRoot = trustedRoot(second, given.second, latest, '--second-root');
    Object.assign(details, { first_root: hexOrUnknown(firstRoot), second_size: second, second_root: hexOrUnknown(secondRoot) });
    details.latest_checkpoint = `size ${latest.size}, signed by ${latest.verifierKey}`;
    const response = await log.getConsistencyProof({ first: BigInt(first), second: BigInt(second) });
    proof.push(...response.hashes);
    if (response.first !== BigInt(first) || response.second !== BigInt(second)) {
      throw new Failure(`asked for a proof from ${first} to ${second}, got one from ${response.first} to ${response.second}`);
    }
    if (firstRoot === undefined || secondRoot === undefined) {
      const missing = firstRoot === undefined ? `${first} (pass --first-root HEX)` : `${second} (pass --second-root HEX)`;
      return { result: 'UNVERIFIABLE', summary: `no trusted root for size ${missing}`, details, proof };
    }
    if (!verifyConsistency(first, second, firstRoot, secondRoot, decodeProof(response.hashes))) {
      throw new Failure(`the consistency proof does not show that the tree of size ${second} extends the tree of size ${first}`);
    }
    return { result: 'OK', summary: `the tree of size ${second} extends the tree of size ${first}`, details, proof };
  } catch (error) {
    if (error instanceof Failure) return { result: 'FAIL', summary: error.message, details, proof };
    throw error;
  }
}

/** The root of the tree of `size` from a trusted source: the empty tree, the verified latest checkpoint, or the user. */
function trustedRoot(size: number, given: Uint8Array | undefined, latest: SignedCheckpoint, option: string): Uint8Array | undefined {
  const known = size === 0 ? EMPTY_ROOT : size === latest.size ? latest.rootHash : undefined;
  if (known !== undefined && given !== undefined && !hashesEqual(known, given)) {
    throw new Failure(`${option} ${hex(given)} is not the root of the tree of size ${size}, which is ${hex(known)}`);
  }
  return known ?? given;
}

/** What `log monitor` works with on every poll. */
interface Watch {
  readonly log: LogClient;
  readonly out: Output;
  readonly stateFile: string;
  readonly pinned: string | undefined;
}

/** The consistency proof a poll fetched, kept so that a failing one can be shown. */
interface ProofAttempt {
  proof?: { readonly first: number; readonly second: number; readonly hashes: readonly string[] };
}

interface MonitorState {
  readonly verifier_key: string;
  readonly checkpoint: string;
  readonly verified_at: string;
}

/** The last checkpoint the monitor verified, re-verified with the key stored beside it; undefined before the first run. */
function readState(path: string, pinned: string | undefined): SignedCheckpoint | undefined {
  if (!existsSync(path)) return undefined;
  const state = parseState(readFileSync(path, 'utf8'));
  if (state === undefined) throw new Error(`${path} is not a log monitor state file (JSON with "verifier_key" and "checkpoint")`);
  if (pinned !== undefined && pinned !== state.verifier_key) {
    throw new Error(`${path} was verified with the key ${state.verifier_key}, not the one given; use another --state file to start over`);
  }
  try {
    return verifyCheckpoint(state.checkpoint, state.verifier_key);
  } catch (error) {
    throw new Error(`${path}: the stored checkpoint is damaged (${(error as Error).message})`);
  }
}

function parseState(text: string): Pick<MonitorState, 'verifier_key' | 'checkpoint'> | undefined {
  try {
    const state = JSON.parse(text) as Partial<Record<keyof MonitorState, unknown>> | null;
    const { verifier_key, checkpoint } = state ?? {};
    return typeof verifier_key === 'string' && typeof checkpoint === 'string' ? { verifier_key, checkpoint } : undefined;
  } catch {
    return undefined;
  }
}

function writeState(path: string, signed: SignedCheckpoint): void {
  const state: MonitorState = { verifier_key: signed.verifierKey, checkpoint: signed.note, verified_at: new Date().toISOString() };
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, `${JSON.stringify(state, null, 2)}\n`, 0o644);
}

/**
 * One poll: the latest checkpoint must verify with the trusted key, keep the origin, and extend the trusted tree.
 * Stores and returns it; on an inconsistency, prints both checkpoints and the proof and returns undefined.
 */
async function poll(watch: Watch, trusted: SignedCheckpoint | undefined, signal?: AbortSignal): Promise<SignedCheckpoint | undefined> {
  const { log, out, pinned } = watch;
  const response = await log.getCheckpoint({}, { signal });
  const attempt: ProofAttempt = {};
  try {
    const latest = verifyResponse(response, trusted?.verifierKey ?? pinned ?? response.verifierKey);
    const change = trusted === undefined ? firstUse(pinned, latest) : await extension(log, trusted, latest, attempt, signal);
    writeState(watch.stateFile, latest);
    pollLine(out, latest, change);
    return latest;
  } catch (error) {
    if (!(error instanceof Failure)) throw error;
    printInconsistency(out, error.message, trusted, response.checkpoint, attempt);
    return undefined;
  }
}

function firstUse(pinned: string | undefined, latest: SignedCheckpoint): string {
  return pinned === undefined
    ? `first checkpoint; trusting the server's key ${latest.verifierKey} on first use (pin it with --key)`
    : 'first checkpoint, verified with the pinned key';
}

/** How `latest` extends `trusted`, after checking that it does; throws Failure when it does not. */
async function extension(
  log: LogClient,
  trusted: SignedCheckpoint,
  latest: SignedCheckpoint,
  attempt: ProofAttempt,
  signal: AbortSignal | undefined,
): Promise<string> {
  if (latest.origin !== trusted.origin) throw new Failure(`the origin changed from ${trusted.origin} to ${latest.origin}`);
  if (latest.size < trusted.size) throw new Failure(`the log shrank from size ${trusted.size} to ${latest.size}`);
  if (latest.size === trusted.size) {
    if (!hashesEqual(latest.rootHash, trusted.rootHash)) throw new Failure(`two different roots for size ${latest.size}: the log forked`);
    return 'unchanged';
  }
  const response = await log.getConsistencyProof({ first: BigInt(trusted.size), second: BigInt(latest.size) }, { signal });
  attempt.proof = { first: trusted.size, second: latest.size, hashes: response.hashes };
  if (response.first !== BigInt(trusted.size) || response.second !== BigInt(latest.size)) {
    throw new Failure(`asked for a proof from ${trusted.size} to ${latest.size}, got one from ${response.first} to ${response.second}`);
  }
  if (!verifyConsistency(trusted.size, latest.size, trusted.rootHash, latest.rootHash, decodeProof(response.hashes))) {
    throw new Failure(`the consistency proof from size ${trusted.size} to ${latest.size} does not verify`);
  }
  return `grew from ${trusted.size}, consistency verified`;
}

function pollLine(out: Output, latest: SignedCheckpoint, change: string): void {
  const at = new Date().toISOString();
  if (out.json) out.line(JSON.stringify({ result: 'OK', time: at, origin: latest.origin, size: latest.size, root_hash: hex(latest.rootHash), change }));
  else out.line(`${at}  OK  ${latest.origin}  size ${latest.size}  root ${hex(latest.rootHash)}  ${change}`);
}

function printInconsistency(out: Output, reason: string, trusted: SignedCheckpoint | undefined, received: string, { proof }: ProofAttempt): void {
  if (out.json) {
    const fields = { result: 'INCONSISTENT', reason, stored_checkpoint: trusted?.note ?? null, server_checkpoint: received };
    out.line(JSON.stringify({ ...fields, consistency_proof: proof ?? null }));
    return;
  }
  out.line(`INCONSISTENT: ${reason}`);
  out.line(trusted === undefined ? '\nstored checkpoint: none' : `\nstored checkpoint (verified with ${trusted.verifierKey}):`);
  if (trusted !== undefined) out.line(indent(trusted.note));
  out.line('\nserver checkpoint:');
  out.line(indent(received));
  if (proof === undefined) return;
  out.line();
  proofLines(out, `consistency proof ${proof.first} -> ${proof.second}`, proof.hashes);
}

/** Polls every `interval` seconds until SIGINT or SIGTERM (exit 0) or an inconsistency (exit 3). */
async function watchUntilSignal(watch: Watch, initial: SignedCheckpoint | undefined, interval: number): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let trusted = initial;
  try {
    while (!stop.signal.aborted) {
      try {
        trusted = await poll(watch, trusted, stop.signal);
        if (trusted === undefined) return INCONSISTENT;
      } catch (error) {
        // Unreachable or failing servers are not evidence against the log: report, and try again next time.
        if (stop.signal.aborted || !(error instanceof ConnectError)) throw error;
        errorLine(`${new Date().toISOString()} poll failed: ${error.message}; retrying in ${interval}s`);
      }
      await sleep(interval * 1000, undefined, { signal: stop.signal }).catch(() => undefined);
    }
    return 0;
  } catch (error) {
    if (stop.signal.aborted) return 0;
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function sizeArgument(raw: string | undefined, name: string): number {
  if (raw === undefined || !/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new UsageError(`${name} must be a whole number, not ${JSON.stringify(raw ?? '')}`);
  }
  return Number(raw);
}

function rootOption(values: OptionValues, name: string): Uint8Array | undefined {
  const raw = stringOption(values, name);
  if (raw === undefined) return undefined;
  const root = hashFromHex(raw.toLowerCase());
  if (root === undefined) throw new UsageError(`--${name} must be a SHA-256 hash in hex (64 digits)`);
  return root;
}

function decodeProof(hashes: readonly string[]): Uint8Array[] {
  return hashes.map((value, i) => hashFromHex(value) ?? failure(`proof hash ${i} is not a SHA-256 hash in lowercase hex`));
}

function hashFromHex(value: string): Uint8Array | undefined {
  return new RegExp(`^[0-9a-f]{${HASH_SIZE * 2}}$`).test(value) ? Buffer.from(value, 'hex') : undefined;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const hexOrUnknown = (bytes: Uint8Array | undefined) => (bytes === undefined ? 'unknown (not verifiable)' : hex(bytes));
const indent = (text: string) => text.trimEnd().replace(/^/gm, '  ');

function failure(message: string): never {
  throw new Failure(message);
}
