import { type LogEntry } from '../../gen/atr/v1/transparency_log_pb.js';
import { LogCheckFailure, type SignedCheckpoint, checkInclusion, checkLeafHash, consistencyProof } from '../sdk/log-checks.ts';
import { verifyConsistency } from '../sdk/transparency-log.ts';
import { EMPTY_ROOT, hashesEqual, leafHash } from '../tlog/hash.ts';
import { type Output } from './output.ts';
import { hex, hexOrUnknown, latestCheckpoint, type LogClient } from './log-checkpoint.ts';

// Inclusion and consistency proofs, checked against a checkpoint this client verified with the SDK's log checks,
// and their verdicts.

/** The outcome of a proof: OK, FAIL (the server's answer does not prove it), or UNVERIFIABLE (no trusted root). */
export interface Verdict {
  readonly result: 'OK' | 'FAIL' | 'UNVERIFIABLE';
  readonly summary: string;
  readonly details: Record<string, string | number>;
  readonly proof: readonly string[];
}

export function printVerdict(out: Output, { result, summary, details, proof }: Verdict): number {
  if (out.json) {
    out.line(JSON.stringify({ result, summary, ...details, proof }, null, 2));
  } else {
    out.line(`${result}: ${summary}`);
    out.fields(Object.entries(details).map(([key, value]) => [key.replaceAll('_', ' '), String(value)] as const));
    proofLines(out, 'proof', proof);
  }
  return result === 'OK' ? 0 : 1;
}

export function proofLines(out: Output, title: string, proof: readonly string[]): void {
  out.line(proof.length === 0 ? `${title}: (no hashes)` : `${title}:`);
  proof.forEach((hash, i) => out.line(`  ${String(i).padStart(2)}  ${hash}`));
}

export async function proveInclusion(log: LogClient, index: number, pinned: string | undefined): Promise<Verdict> {
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
    checkLeafHash(logged.leafHash, computed);
    await checkInclusion(computed, index, signed, keeping(proof, log.getInclusionProof));
    return { result: 'OK', summary: `entry ${index} is in the signed tree of size ${signed.size}`, details, proof };
  } catch (error) {
    if (error instanceof LogCheckFailure) return { result: 'FAIL', summary: error.message, details, proof };
    throw error;
  }
}

export async function proveConsistency(
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
    const hashes = await consistencyProof(first, second, keeping(proof, log.getConsistencyProof));
    if (firstRoot === undefined || secondRoot === undefined) {
      const missing = firstRoot === undefined ? `${first} (pass --first-root HEX)` : `${second} (pass --second-root HEX)`;
      return { result: 'UNVERIFIABLE', summary: `no trusted root for size ${missing}`, details, proof };
    }
    if (!(await verifyConsistency(first, second, firstRoot, secondRoot, hashes))) {
      throw new LogCheckFailure(`the consistency proof does not show that the tree of size ${second} extends the tree of size ${first}`);
    }
    return { result: 'OK', summary: `the tree of size ${second} extends the tree of size ${first}`, details, proof };
  } catch (error) {
    if (error instanceof LogCheckFailure) return { result: 'FAIL', summary: error.message, details, proof };
    throw error;
  }
}

/** `fetch`, keeping the hashes of each proof it gets in `proof`, so that the verdict shows what the server sent. */
function keeping<Request, Answer extends { hashes: readonly string[] }>(proof: string[], fetch: (request: Request) => Promise<Answer>) {
  return async (request: Request): Promise<Answer> => {
    const answer = await fetch(request);
    proof.push(...answer.hashes);
    return answer;
  };
}

/** The root of the tree of `size` from a trusted source: the empty tree, the verified latest checkpoint, or the user. */
function trustedRoot(size: number, given: Uint8Array | undefined, latest: SignedCheckpoint, option: string): Uint8Array | undefined {
  const known = size === 0 ? EMPTY_ROOT : size === latest.size ? latest.rootHash : undefined;
  if (known !== undefined && given !== undefined && !hashesEqual(known, given)) {
    throw new LogCheckFailure(`${option} ${hex(given)} is not the root of the tree of size ${size}, which is ${hex(known)}`);
  }
  return known ?? given;
}

export function expectEntry(logged: LogEntry | undefined, index: number): LogEntry {
  if (logged === undefined) throw new LogCheckFailure(`the server sent no entry for index ${index}`);
  if (logged.index !== BigInt(index)) throw new LogCheckFailure(`asked for entry ${index}, the server sent entry ${logged.index}`);
  return logged;
}
