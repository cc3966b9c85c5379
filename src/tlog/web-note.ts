// Opening a C2SP signed note with one trusted Ed25519 verifier key over WebCrypto, for the SDK in browsers
// and Node alike. The text rules are note-text.ts's, shared with the server's node:crypto path (note.ts).
import { ED25519_SIGNATURE_SIZE, KEY_ID_SIZE, badSignature, keyIdInput, keyIdMismatch, keyIdsEqual, signaturesBy, splitVerifierKey } from './note-text.ts';

export { NoteError } from './note-text.ts';

/**
 * The text of a note that carries a valid signature by `verifierKey` (`<name>+<key ID hex>+<base64 key>`).
 * Signatures by other keys are ignored, as the spec requires; a signature that claims to be by this key and
 * does not verify rejects the whole note. Throws NoteError.
 */
export async function openNote(note: string, verifierKey: string): Promise<{ text: string }> {
  const key = splitVerifierKey(verifierKey);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', owned(keyIdInput(key.name, key.publicKey))));
  if (!keyIdsEqual(key.keyId, digest.subarray(0, KEY_ID_SIZE))) throw keyIdMismatch();
  const { text, message, signatures } = signaturesBy(note, key);
  const publicKey = await crypto.subtle.importKey('raw', owned(key.publicKey), { name: 'Ed25519' }, false, ['verify']);
  for (const signature of signatures) {
    if (signature.length !== ED25519_SIGNATURE_SIZE || !(await crypto.subtle.verify({ name: 'Ed25519' }, publicKey, owned(signature), owned(message)))) {
      throw badSignature(key);
    }
  }
  return { text };
}

// WebCrypto's DOM typing takes bytes over a plain ArrayBuffer only; a copy is one (the inputs are a few hundred bytes).
function owned(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}
