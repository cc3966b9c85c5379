// C2SP signed-note (c2sp.org/signed-note) with Ed25519 signatures on node:crypto: the envelope of the log's
// checkpoints. Only what the log needs: one signer, and opening a note with one trusted verifier key. The
// text rules are note-text.ts's, shared with the SDK's WebCrypto opener (web-note.ts).
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { encodeBase64 } from './base64.ts';
import { encodeHex } from './hex.ts';
import {
  ED25519,
  ED25519_SIGNATURE_SIZE,
  EM_DASH,
  KEY_ID_SIZE,
  assertNoteText,
  badSignature,
  isKeyName,
  keyIdInput,
  keyIdMismatch,
  keyIdsEqual,
  signaturesBy,
  splitVerifierKey,
} from './note-text.ts';

export { NoteError } from './note-text.ts';

export interface NoteSigner {
  readonly name: string;
  /** SHA-256(name || 0x0A || 0x01 || public key)[:4]. */
  readonly keyId: Uint8Array;
  /** The signature line(s) for `text`, each ending in a newline. */
  sign(text: string): string;
  /** `<name>+<key ID hex>+<base64(0x01 || public key)>`: what clients configure to trust the log. */
  readonly verifierKey: string;
}

export interface VerifierKey {
  readonly name: string;
  readonly keyId: Uint8Array;
  readonly publicKey: KeyObject;
}

export function createNoteSigner(name: string, privateKey: KeyObject): NoteSigner {
  if (!isKeyName(name)) {
    throw new RangeError(`key name ${JSON.stringify(name)} must be non-empty, without spaces, control characters or '+'`);
  }
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError('a note signer needs an Ed25519 private key');
  }
  const publicKey = rawPublicKey(createPublicKey(privateKey));
  const keyId = ed25519KeyId(name, publicKey);
  return {
    name,
    keyId,
    verifierKey: `${name}+${encodeHex(keyId)}+${encodeBase64(Uint8Array.of(ED25519, ...publicKey))}`,
    sign(text: string): string {
      assertNoteText(text);
      const signature = sign(null, Buffer.from(text, 'utf8'), privateKey);
      return `${EM_DASH} ${name} ${Buffer.concat([keyId, signature]).toString('base64')}\n`;
    },
  };
}

/** The signed note: the text, a blank line, the signer's signature line. */
export function signNote(text: string, signer: NoteSigner): string {
  assertNoteText(text);
  return `${text}\n${signer.sign(text)}`;
}

/** Parses `<name>+<key ID hex>+<base64(0x01 || public key)>`, checking the key ID against the key. */
export function parseVerifierKey(vkey: string): VerifierKey {
  const { name, keyId, publicKey } = splitVerifierKey(vkey);
  if (!keyIdsEqual(keyId, ed25519KeyId(name, publicKey))) throw keyIdMismatch();
  return { name, keyId, publicKey: importPublicKey(publicKey) };
}

/**
 * The text of a note that carries a valid signature by `verifierKey`. Signatures by other keys are ignored,
 * as the spec requires (they may be witnesses, or a rotated key); a signature that claims to be by this key
 * and does not verify rejects the whole note.
 */
export function openNote(note: string, verifierKey: string): { text: string } {
  const key = parseVerifierKey(verifierKey);
  const { text, message, signatures } = signaturesBy(note, key);
  for (const signature of signatures) {
    if (signature.length !== ED25519_SIGNATURE_SIZE || !verify(null, message, key.publicKey, signature)) throw badSignature(key);
  }
  return { text };
}

/** SHA-256(name || 0x0A || 0x01 || public key)[:4], the spec's Ed25519 key ID. */
function ed25519KeyId(name: string, publicKey: Uint8Array): Buffer {
  return createHash('sha256').update(keyIdInput(name, publicKey)).digest().subarray(0, KEY_ID_SIZE);
}

function rawPublicKey(key: KeyObject): Buffer {
  const { x } = key.export({ format: 'jwk' });
  if (x === undefined) throw new TypeError('not an Ed25519 public key');
  return Buffer.from(x, 'base64url');
}

function importPublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}
