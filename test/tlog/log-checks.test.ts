import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type FetchConsistencyProof,
  type FetchInclusionProof,
  LogCheckFailure,
  type SignedCheckpoint,
  checkExtension,
  checkInclusion,
  checkLeafHash,
  hashToHex,
  openSignedCheckpoint,
  verifyCheckpointResponse,
} from '../../src/sdk/index.ts';
import { formatCheckpoint } from '../../src/tlog/checkpoint.ts';
import { createNoteSigner, signNote } from '../../src/tlog/note.ts';
import { consistencyProof, inclusionProof } from '../../src/tlog/proof.ts';
import { merkleFixture } from '../support/merkle-fixture.ts';

// The SDK's log checks, which `atr log` and the web UI's log page both run, against a real tree and real signed
// checkpoints; the proofs come from the server's own proof code, then an answer is changed the way a lying log would.

const ORIGIN = 'log-checks.test/atr';
const N = 12;
const { leafOf, read, rootOf } = merkleFixture(N);
const signer = createNoteSigner(ORIGIN, generateKeyPairSync('ed25519').privateKey);
const other = createNoteSigner(ORIGIN, generateKeyPairSync('ed25519').privateKey);

/** The checkpoint of the fixture's tree at `size`, signed and opened; `rootHash` replaces the real root for a forged view. */
function checkpointAt(size: number, { origin = ORIGIN, rootHash = rootOf(size) } = {}): Promise<SignedCheckpoint> {
  return openSignedCheckpoint(signNote(formatCheckpoint({ origin, size, rootHash }), signer), signer.verifierKey);
}

/** The honest server's consistency proofs as hex, edited by `lie` on the way. */
const consistencyFrom =
  (lie: (answer: { first: bigint; second: bigint; hashes: string[] }) => void = () => {}): FetchConsistencyProof =>
  async ({ first, second }) => {
    const answer = { first, second, hashes: (await consistencyProof(Number(first), Number(second), read)).map(hashToHex) };
    lie(answer);
    return answer;
  };

const inclusionFrom =
  (lie: (answer: { index: bigint; treeSize: bigint; hashes: string[] }) => void = () => {}): FetchInclusionProof =>
  async ({ index, treeSize }) => {
    const answer = { index, treeSize, hashes: (await inclusionProof(Number(index), Number(treeSize), read)).map(hashToHex) };
    lie(answer);
    return answer;
  };

const flipped = (hash: string) => `${hash.startsWith('0') ? '1' : '0'}${hash.slice(1)}`;

async function failure(check: Promise<unknown>): Promise<string> {
  const error = await check.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(LogCheckFailure);
  return (error as LogCheckFailure).message;
}

describe('a checkpoint', () => {
  it('opens with the key that signed it, and only with that key', async () => {
    const signed = await checkpointAt(5);
    expect({ origin: signed.origin, size: signed.size, root: hashToHex(signed.rootHash) }).toEqual({ origin: ORIGIN, size: 5, root: hashToHex(rootOf(5)) });
    expect(await failure(openSignedCheckpoint(signed.note, other.verifierKey))).toMatch(
      `the checkpoint does not verify with the key ${other.verifierKey}: the note has no signature by`,
    );
  });

  it('in a GetCheckpoint answer must have the size and root the server reports beside it', async () => {
    const { note } = await checkpointAt(5);
    const answer = { checkpoint: note, treeSize: 5n, rootHash: hashToHex(rootOf(5)) };
    expect((await verifyCheckpointResponse(answer, signer.verifierKey)).size).toBe(5);
    expect(await failure(verifyCheckpointResponse({ ...answer, treeSize: 6n }, signer.verifierKey))).toBe(
      `the server reports size 6 and root ${answer.rootHash}, but its signed checkpoint says size 5 and root ${answer.rootHash}`,
    );
    expect(await failure(verifyCheckpointResponse({ ...answer, rootHash: flipped(answer.rootHash) }, signer.verifierKey))).toMatch(/^the server reports size 5 /);
  });
});

describe('the extension check', () => {
  it('accepts the same tree unchanged and a grown tree with its consistency proof, from every older size', async () => {
    const latest = await checkpointAt(N);
    expect(await checkExtension(latest, latest, consistencyFrom())).toBe('unchanged');
    for (let size = 1; size < N; size++) {
      const proof = await checkExtension(await checkpointAt(size), latest, consistencyFrom());
      expect(proof !== 'unchanged' && proof.map(hashToHex)).toEqual((await consistencyProof(size, N, read)).map(hashToHex));
    }
  });

  it('refuses a changed origin, a shrunk log and a fork without asking for a proof', async () => {
    const refuse = async (older: SignedCheckpoint, latest: SignedCheckpoint) =>
      failure(checkExtension(older, latest, () => Promise.reject(new Error('no proof should be asked for'))));
    expect(await refuse(await checkpointAt(4, { origin: 'elsewhere/atr' }), await checkpointAt(6))).toBe('the origin changed from elsewhere/atr to log-checks.test/atr');
    expect(await refuse(await checkpointAt(8), await checkpointAt(6))).toBe('the log shrank from size 8 to 6');
    expect(await refuse(await checkpointAt(6, { rootHash: rootOf(5) }), await checkpointAt(6))).toBe('two different roots for size 6: the log forked');
  });

  it('refuses a proof for other sizes, a changed or malformed proof hash, and an older tree that is not a prefix', async () => {
    const older = await checkpointAt(5);
    const latest = await checkpointAt(N);
    const refuse = (fetch: FetchConsistencyProof, from = older) => failure(checkExtension(from, latest, fetch));
    expect(await refuse(consistencyFrom((answer) => (answer.first = 4n)))).toBe(`asked for a proof from 5 to ${N}, got one from 4 to ${N}`);
    expect(await refuse(consistencyFrom((answer) => (answer.hashes[0] = flipped(answer.hashes[0]!))))).toBe(
      `the consistency proof from size 5 to ${N} does not verify`,
    );
    expect(await refuse(consistencyFrom((answer) => (answer.hashes[1] = answer.hashes[1]!.toUpperCase())))).toBe('proof hash 1 is not a SHA-256 hash in lowercase hex');
    expect(await refuse(consistencyFrom(), await checkpointAt(5, { rootHash: rootOf(4) }))).toBe(`the consistency proof from size 5 to ${N} does not verify`);
  });
});

describe('the inclusion check', () => {
  it('proves every leaf in the signed tree', async () => {
    const latest = await checkpointAt(N);
    for (let index = 0; index < N; index++) {
      const proof = await checkInclusion(leafOf(index), index, latest, inclusionFrom());
      expect(proof.map(hashToHex)).toEqual((await inclusionProof(index, N, read)).map(hashToHex));
    }
  });

  it('refuses a proof for another entry or size, a changed proof hash and another leaf', async () => {
    const latest = await checkpointAt(N);
    const refuse = (fetch: FetchInclusionProof, leaf = leafOf(3)) => failure(checkInclusion(leaf, 3, latest, fetch));
    expect(await refuse(inclusionFrom((answer) => (answer.treeSize = 11n)))).toBe(`asked for entry 3 in the tree of size ${N}, got entry 3 in size 11`);
    const notProven = "the inclusion proof does not lead from the entry's leaf hash to the checkpoint's root";
    expect(await refuse(inclusionFrom((answer) => (answer.hashes[0] = flipped(answer.hashes[0]!))))).toBe(notProven);
    expect(await refuse(inclusionFrom(), leafOf(4))).toBe(notProven);
  });
});

describe('the leaf hash check', () => {
  it("refuses a reported leaf hash that is not the hash of the entry's data", () => {
    const leaf = leafOf(0);
    expect(() => checkLeafHash(hashToHex(leaf), leaf)).not.toThrow();
    expect(() => checkLeafHash(flipped(hashToHex(leaf)), leaf)).toThrow(new LogCheckFailure(`the server reports leaf hash ${flipped(hashToHex(leaf))}, but the entry's data hashes to ${hashToHex(leaf)}`));
  });
});
