// Lowercase hex, as the API writes hashes and the signed-note spec writes key IDs, without Buffer so the
// browser SDK shares it.

export function encodeHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** The bytes of `text`, which the caller has checked is an even number of hex digits. */
export function decodeHex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g) ?? [], (byte) => Number.parseInt(byte, 16));
}
