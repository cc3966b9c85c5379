// Hashes as the API writes them, lowercase hex, to and from bytes. A proof hash that is not one fails the check.
import { hashFromHex } from '../../../sdk/browser.ts';
import { Failure } from './verdict.ts';

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

export function proofHashes(hashes: readonly string[]): Uint8Array[] {
  return hashes.map((value, i) => {
    try {
      return hashFromHex(value);
    } catch {
      throw new Failure(`proof hash ${i} is not a SHA-256 hash in lowercase hex`);
    }
  });
}
