import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConnectError } from '@connectrpc/connect';
import { writeFileAtomic } from '../pki/ca-files.ts';
import { LogCheckFailure, type SignedCheckpoint, checkExtension, openSignedCheckpoint, verifyCheckpointResponse } from '../sdk/log-checks.ts';
import { type Invocation, UsageError, errorLine, flagOption, integerOption, stringOption } from './command.ts';
import type { Output } from './output.ts';
import { hex, indent, logClient, pinnedKey, type LogClient } from './log-checkpoint.ts';
import { DEFAULT_MONITOR_INTERVAL_SECONDS, DEFAULT_MONITOR_STATE_FILE, EXIT_INCONSISTENT } from './defaults.ts';
import { proofLines } from './log-proof.ts';

// `atr log monitor`: follows the log, proving each new checkpoint consistent with the last one it trusted.


export async function monitor(invocation: Invocation): Promise<number> {
  const { values } = invocation;
  const interval = integerOption(values, 'interval') ?? DEFAULT_MONITOR_INTERVAL_SECONDS;
  if (interval < 1) throw new UsageError('--interval must be at least 1 second');
  const watch: Watch = {
    log: logClient(invocation),
    out: invocation.out,
    stateFile: resolve(stringOption(values, 'state') ?? DEFAULT_MONITOR_STATE_FILE),
    pinned: pinnedKey(values),
  };
  const trusted = await readState(watch.stateFile, watch.pinned);
  if (flagOption(values, 'once')) return (await poll(watch, trusted)) === undefined ? EXIT_INCONSISTENT : 0;
  return watchUntilSignal(watch, trusted, interval);
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
async function readState(path: string, pinned: string | undefined): Promise<SignedCheckpoint | undefined> {
  if (!existsSync(path)) return undefined;
  const state = parseState(readFileSync(path, 'utf8'));
  if (state === undefined) throw new Error(`${path} is not a log monitor state file (JSON with "verifier_key" and "checkpoint")`);
  if (pinned !== undefined && pinned !== state.verifier_key) {
    throw new Error(`${path} was verified with the key ${state.verifier_key}, not the one given; use another --state file to start over`);
  }
  try {
    return await openSignedCheckpoint(state.checkpoint, state.verifier_key);
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
    const latest = await verifyCheckpointResponse(response, trusted?.verifierKey ?? pinned ?? response.verifierKey);
    const change = trusted === undefined ? firstUse(pinned, latest) : await extension(log, trusted, latest, attempt, signal);
    writeState(watch.stateFile, latest);
    pollLine(out, latest, change);
    return latest;
  } catch (error) {
    if (!(error instanceof LogCheckFailure)) throw error;
    printInconsistency(out, error.message, trusted, response.checkpoint, attempt);
    return undefined;
  }
}

function firstUse(pinned: string | undefined, latest: SignedCheckpoint): string {
  return pinned === undefined
    ? `first checkpoint; trusting the server's key ${latest.verifierKey} on first use (pin it with --key)`
    : 'first checkpoint, verified with the pinned key';
}

/** How `latest` extends `trusted`, after checking that it does; keeps the consistency proof it fetched in `attempt`. */
async function extension(
  log: LogClient,
  trusted: SignedCheckpoint,
  latest: SignedCheckpoint,
  attempt: ProofAttempt,
  signal: AbortSignal | undefined,
): Promise<string> {
  const change = await checkExtension(trusted, latest, async (request) => {
    const response = await log.getConsistencyProof(request, { signal });
    attempt.proof = { first: trusted.size, second: latest.size, hashes: response.hashes };
    return response;
  });
  return change === 'unchanged' ? change : `grew from ${trusted.size}, consistency verified`;
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
        if (trusted === undefined) return EXIT_INCONSISTENT;
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
