// C2SP signed-note (c2sp.org/signed-note) with Ed25519 signatures: the envelope of the log's checkpoints.
// Only what the log needs: one signer, and opening a note with one trusted verifier key.
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/** Signature type byte of Ed25519 in key IDs and verifier keys. */
const ED25519 = 0x01;
const ED25519_PUBLIC_KEY_SIZE = 32;
const ED25519_SIGNATURE_SIZE = 64;
const KEY_ID_SIZE = 4;
// The spec asks verifiers to bound the signatures they look at, and to accept at least 16.
const MAX_SIGNATURES = 64;
const EM_DASH = '\u2014';

// Names go between spaces on signature lines and between '+' in verifier keys; the unpaired-surrogate and
// control classes keep them encodable in UTF-8 and on one line.
const BAD_NAME_CHARACTER = /[\p{White_Space}\p{Cc}\p{Cs}+]/u;
// The spec forbids ASCII control characters other than newline; an unpaired surrogate has no UTF-8 form.
const BAD_NOTE_CHARACTER = /[\u0000-\u0009\u000b-\u001f]|\p{Cs}/u;
const SIGNATURE_LINE = /^\u2014 (\S+) (\S+)$/u;

/** A note that does not open: malformed, or without a valid signature by the trusted key. */
export class NoteError extends Error {
  override readonly name = 'NoteError';
}

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
    verifierKey: `${name}+${Buffer.from(keyId).toString('hex')}+${Buffer.from([ED25519, ...publicKey]).toString('base64')}`,
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
  // Split at the first two '+' only: the name and the hex have none, the base64 key may.
  const [, name, idHex, keyBase64] = /^([^+]*)\+([^+]*)\+(.*)$/s.exec(vkey) ?? [];
  if (name === undefined || idHex === undefined || keyBase64 === undefined) {
    throw new NoteError('a verifier key is <name>+<key ID>+<key>');
  }
  if (!isKeyName(name)) throw new NoteError('verifier key has an invalid key name');
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new NoteError('verifier key ID must be 8 lowercase hex digits');
  const key = decodeBase64(keyBase64);
  if (key?.length !== 1 + ED25519_PUBLIC_KEY_SIZE || key[0] !== ED25519) {
    throw new NoteError('verifier key is not an Ed25519 key (type 0x01 and 32 bytes)');
  }
  const publicKey = key.subarray(1);
  const keyId = Buffer.from(idHex, 'hex');
  if (!keyId.equals(ed25519KeyId(name, publicKey))) {
    throw new NoteError('verifier key ID does not match its name and key');
  }
  return { name, keyId, publicKey: importPublicKey(publicKey) };
}

/**
 * The text of a note that carries a valid signature by `verifierKey`. Signatures by other keys are ignored,
 * as the spec requires (they may be witnesses, or a rotated key); a signature that claims to be by this key
 * and does not verify rejects the whole note.
 */
export function openNote(note: string, verifierKey: string): { text: string } {
  const key = parseVerifierKey(verifierKey);
  const { text, signatures } = splitNote(note);
  const message = Buffer.from(text, 'utf8');
  let verified = false;
  for (const signature of signatures) {
    if (signature.name !== key.name || !signature.keyId.equals(key.keyId)) continue;
    const bytes = signature.signature;
    if (bytes.length !== ED25519_SIGNATURE_SIZE || !verify(null, message, key.publicKey, bytes)) {
      throw new NoteError(`the signature by ${key.name} does not verify`);
    }
    verified = true;
  }
  if (!verified) throw new NoteError(`the note has no signature by ${key.name}+${Buffer.from(key.keyId).toString('hex')}`);
  return { text };
}

interface NoteSignature {
  readonly name: string;
  readonly keyId: Buffer;
  readonly signature: Buffer;
}

/** Splits a note at its last blank line into the text (with its final newline) and the signature lines. */
function splitNote(note: string): { text: string; signatures: NoteSignature[] } {
  if (typeof note !== 'string' || BAD_NOTE_CHARACTER.test(note)) {
    throw new NoteError('a note must be UTF-8 text without control characters other than newline');
  }
  const blank = note.lastIndexOf('\n\n');
  if (blank < 0 || !note.endsWith('\n')) throw new NoteError('a note is text, a blank line, then signature lines');
  const lines = note.slice(blank + 2, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new NoteError(`a note may carry at most ${MAX_SIGNATURES} signatures`);
  return { text: note.slice(0, blank + 1), signatures: lines.map(parseSignatureLine) };
}

function parseSignatureLine(line: string): NoteSignature {
  const [, name, base64] = SIGNATURE_LINE.exec(line) ?? [];
  const bytes = base64 === undefined ? undefined : decodeBase64(base64);
  if (name === undefined || !isKeyName(name) || bytes === undefined || bytes.length <= KEY_ID_SIZE) {
    throw new NoteError(`malformed signature line ${JSON.stringify(line)}`);
  }
  return { name, keyId: bytes.subarray(0, KEY_ID_SIZE), signature: bytes.subarray(KEY_ID_SIZE) };
}

function isKeyName(name: string): boolean {
  return name !== '' && !BAD_NAME_CHARACTER.test(name);
}

function assertNoteText(text: string): void {
  if (!text.endsWith('\n') || BAD_NOTE_CHARACTER.test(text)) {
    throw new RangeError('note text must end with a newline and have no control characters other than newline');
  }
}

/** SHA-256(name || 0x0A || 0x01 || public key)[:4], the spec's Ed25519 key ID. */
function ed25519KeyId(name: string, publicKey: Uint8Array): Buffer {
  const hash = createHash('sha256').update(name, 'utf8').update(Uint8Array.of(0x0a, ED25519)).update(publicKey).digest();
  return hash.subarray(0, KEY_ID_SIZE);
}

function rawPublicKey(key: KeyObject): Buffer {
  const { x } = key.export({ format: 'jwk' });
  if (x === undefined) throw new TypeError('not an Ed25519 public key');
  return Buffer.from(x, 'base64url');
}

function importPublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/** Standard base64, canonical only: Buffer.from skips bad characters, so a round trip is the check. */
function decodeBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}
