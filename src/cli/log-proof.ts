import { type LogEntry } from '../../gen/atr/v1/transparency_log_pb.js';
import { EMPTY_ROOT, hashesEqual, leafHash } from '../tlog/hash.ts';
import { verifyConsistency, verifyInclusion } from '../tlog/verify.ts';
import { type Output } from './output.ts';
import {
  Failure,
  decodeProof,
  hex,
  hexOrUnknown,
  latestCheckpoint,
  type LogClient,
  type SignedCheckpoint,
} from './log-checkpoint.ts';

// Inclusion and consistency proofs, checked here against a checkpoint this client verified, and their verdicts.

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

export function expectEntry(logged: LogEntry | undefined, index: number): LogEntry {
  if (logged === undefined) throw new Failure(`the server sent no entry for index ${index}`);
  if (logged.index !== BigInt(index)) throw new Failure(`asked for entry ${index}, the server sent entry ${logged.index}`);
  return logged;
}
