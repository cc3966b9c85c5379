// C2SP signed-note (c2sp.org/signed-note) with Ed25519 signatures: the text rules, without the crypto. The
// server signs and opens notes on node:crypto (note.ts), the SDK opens them on WebCrypto (web-note.ts); both
// parse and match signatures here. No `node:` import.
import { decodeBase64 } from './base64.ts';
import { hashesEqual } from './hash-bytes.ts';
import { decodeHex, encodeHex } from './hex.ts';

/** Signature type byte of Ed25519 in key IDs and verifier keys. */
export const ED25519 = 0x01;
const ED25519_PUBLIC_KEY_SIZE = 32;
export const ED25519_SIGNATURE_SIZE = 64;
export const KEY_ID_SIZE = 4;
// The spec asks verifiers to bound the signatures they look at, and to accept at least 16.
const MAX_SIGNATURES = 64;
export const EM_DASH = '\u2014';

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

/** Whom a signature line names: the key name and its 4-byte key ID. */
type SignerId = Pick<VerifierKeyText, 'name' | 'keyId'>;

/** A verifier key's parts, before its key ID is checked against its name and key. */
export interface VerifierKeyText {
  readonly name: string;
  readonly keyId: Uint8Array;
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
}

/** Splits `<name>+<key ID hex>+<base64(0x01 || public key)>`; the caller checks the key ID with keyIdInput. */
export function splitVerifierKey(vkey: string): VerifierKeyText {
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
  return { name, keyId: decodeHex(idHex), publicKey: key.subarray(1) };
}

/** name || 0x0A || 0x01 || public key: the spec's Ed25519 key ID is the first 4 bytes of its SHA-256. */
export function keyIdInput(name: string, publicKey: Uint8Array): Uint8Array {
  return Uint8Array.from([...new TextEncoder().encode(name), 0x0a, ED25519, ...publicKey]);
}

/** Byte equality, the same as for hashes. */
export const keyIdsEqual = hashesEqual;

/** The key ID mismatch every opener reports the same way. */
export const keyIdMismatch = () => new NoteError('verifier key ID does not match its name and key');

/**
 * The note's text and the signatures that claim to be by `key`. Signatures by other keys are ignored, as the
 * spec requires (they may be witnesses, or a rotated key); none by this key is an error.
 */
export function signaturesBy(note: string, key: SignerId): { text: string; message: Uint8Array; signatures: Uint8Array[] } {
  const { text, signatures } = splitNote(note);
  const mine = signatures
    .filter((signature) => signature.name === key.name && keyIdsEqual(signature.keyId, key.keyId))
    .map((signature) => signature.signature);
  if (mine.length === 0) throw new NoteError(`the note has no signature by ${key.name}+${encodeHex(key.keyId)}`);
  return { text, message: new TextEncoder().encode(text), signatures: mine };
}

/** The error for a signature that claims to be by the trusted key and does not verify: it rejects the note. */
export const badSignature = (key: SignerId) => new NoteError(`the signature by ${key.name} does not verify`);

interface NoteSignature {
  readonly name: string;
  readonly keyId: Uint8Array;
  readonly signature: Uint8Array;
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

export function isKeyName(name: string): boolean {
  return name !== '' && !BAD_NAME_CHARACTER.test(name);
}

export function assertNoteText(text: string): void {
  if (!text.endsWith('\n') || BAD_NOTE_CHARACTER.test(text)) {
    throw new RangeError('note text must end with a newline and have no control characters other than newline');
  }
}
