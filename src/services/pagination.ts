import { invalidArgument } from '../errors.ts';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
/** base64url of "after:" and 15 digits. */
const MAX_PAGE_TOKEN_LENGTH = 28;

/** A page size from a request: 0 means the default; more than the maximum is refused. */
export function pageSize(field: string, requested: number): number {
  if (requested < 0 || requested > MAX_PAGE_SIZE) throw invalidArgument(field, `must be from 0 to ${MAX_PAGE_SIZE}`);
  return requested === 0 ? DEFAULT_PAGE_SIZE : requested;
}

export function offsetOf(requested: number): number {
  if (requested < 0) throw invalidArgument('offset', 'must not be negative');
  return requested;
}

// Page tokens are opaque to clients: the last id of the previous page, so pages stay stable under inserts.
export function encodePageToken(lastId: number): string {
  return Buffer.from(`after:${lastId}`).toString('base64url');
}

export function decodePageToken(token: string): number | undefined {
  if (token === '') return undefined;
  // Buffer's base64url decoder skips characters it does not know; only the exact form encodePageToken writes counts.
  const text = token.length <= MAX_PAGE_TOKEN_LENGTH ? Buffer.from(token, 'base64url').toString() : '';
  const match = /^after:(\d{1,15})$/.exec(text);
  if (!match || encodePageToken(Number(match[1])) !== token) {
    throw invalidArgument('page_token', 'is not a token this server issued');
  }
  return Number(match[1]);
}
