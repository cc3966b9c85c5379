import { createHash, randomBytes } from 'node:crypto';

// A challenge in the ACME manner (RFC 8555 §8): a random token, and a key authorization that binds it to the
// account answering it, here the owner. The DNS answer is the SHA-256 of the key authorization (DNS-01), the HTTP
// answer the key authorization itself (HTTP-01), so a token published for one owner proves nothing for another.

/** 128 random bits, base64url: unguessable, and safe in a DNS label, a URL path and a shell. */
export function newToken(): string {
  return randomBytes(16).toString('base64url');
}

export const TOKEN_FORMAT = /^[A-Za-z0-9_-]{22}$/;

export function keyAuthorization(token: string, owner: string): string {
  return `${token}.${owner}`;
}

/** The TXT value: base64url(SHA-256(token "." owner)). */
export function dnsValue(token: string, owner: string): string {
  return createHash('sha256').update(keyAuthorization(token, owner), 'utf8').digest('base64url');
}

export function challengeDnsName(domain: string): string {
  return `_atr-challenge.${domain}`;
}

export const HTTP_CHALLENGE_PATH = '/.well-known/atr-challenge/';

export function challengeUrl(domain: string, token: string): string {
  return `http://${domain}${HTTP_CHALLENGE_PATH}${token}`;
}
