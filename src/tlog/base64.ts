// Standard base64 for the log's text formats (checkpoints, signed notes), without Buffer so the browser SDK
// shares it. Decoding is canonical only: one byte string has one text, as signed formats need.

export function encodeBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/** The bytes of canonical standard base64 (padded, no whitespace), else undefined. */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  const bytes = Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
  // atob ignores the unused bits of the last character; a round trip proves they are zero.
  return encodeBase64(bytes) === text ? bytes : undefined;
}
