import { invalidArgument } from '../errors.ts';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

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
  const match = /^after:(\d{1,15})$/.exec(Buffer.from(token, 'base64url').toString());
  if (!match) throw invalidArgument('page_token', 'is not a token this server issued');
  return Number(match[1]);
}
