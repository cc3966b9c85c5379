import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { leafHash } from '../../src/tlog/hash.ts';
import { createNoteSigner, openNote, signNote } from '../../src/tlog/note.ts';
import { consistencyProof, inclusionProof } from '../../src/tlog/proof.ts';
import { verifyConsistency, verifyInclusion } from '../../src/tlog/verify.ts';
import { merkleFixture } from '../support/merkle-fixture.ts';
import * as web from '../../src/tlog/web-verify.ts';
import { openNote as openNoteWeb } from '../../src/tlog/web-note.ts';

// The SDK's WebCrypto path runs the same algorithms (proof-check.ts, note-text.ts) as the node:crypto path,
// which tlog-verify.test.ts and tlog-note.test.ts check in depth; here the two must agree on every input.

const N = 64;
const { leaves, read, rootOf } = merkleFixture(N);
const size = fc.integer({ min: 0, max: N });

describe('the WebCrypto proof checks', () => {
  it('hash a leaf as node:crypto does', async () => {
    const data = new TextEncoder().encode('{"event_type":"registered"}');
    expect(await web.leafHash(data)).toEqual(new Uint8Array(leafHash(data)));
  });

  it('give the same verdict as the node:crypto ones for inclusion, honest or for another size', async () => {
    await fc.assert(
      fc.asyncProperty(size, size, fc.nat(), async (proofSize, rootSize, index) => {
        const at = proofSize === 0 ? 0 : index % proofSize;
        const proof = proofSize === 0 ? [] : await inclusionProof(at, proofSize, read);
        const args = [leaves[at] ?? new Uint8Array(), at, proofSize, proof, rootOf(rootSize)] as const;
        expect(await web.verifyInclusion(...args)).toBe(verifyInclusion(...args));
      }),
      { numRuns: 200 },
    );
  });

  it('give the same verdict as the node:crypto ones for consistency', async () => {
    await fc.assert(
      fc.asyncProperty(size, size, size, async (a, b, claimed) => {
        const [first, second] = a <= b ? [a, b] : [b, a];
        const proof = await consistencyProof(first, second, read);
        const args = [first, second, rootOf(claimed), rootOf(second), proof] as const;
        expect(await web.verifyConsistency(...args)).toBe(verifyConsistency(...args));
        expect(await web.verifyConsistency(first, second, rootOf(first), rootOf(second), proof)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('the WebCrypto note opener', () => {
  const signer = createNoteSigner('log.example', generateKeyPairSync('ed25519').privateKey);
  const other = createNoteSigner('log.example', generateKeyPairSync('ed25519').privateKey);
  const note = signNote('log.example\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n', signer);

  it('opens what node:crypto opens', async () => {
    expect(await openNoteWeb(note, signer.verifierKey)).toEqual(openNote(note, signer.verifierKey));
  });

  it('refuses with the same message what node:crypto refuses', async () => {
    const forged = note.replace(/ (\S+)\n$/, (_, sig: string) => ` ${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}\n`);
    for (const [text, key] of [
      [note, other.verifierKey],
      [forged, signer.verifierKey],
      [note.replace('\n\n', '\n'), signer.verifierKey],
      [note, signer.verifierKey.replace(/\+[0-9a-f]{8}\+/, '+00000000+')],
    ] as const) {
      const expected = (() => {
        try {
          openNote(text, key);
          return 'opened';
        } catch (error) {
          return (error as Error).message;
        }
      })();
      expect(expected).not.toBe('opened');
      await expect(openNoteWeb(text, key)).rejects.toThrow(expected);
    }
  });
});
