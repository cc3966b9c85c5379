import type { IncomingHttpHeaders } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** Where a trusted proxy appends the address it received a request from. */
export type ProxyHeader = 'x-forwarded-for' | 'forwarded';

export interface ClientAddressOptions {
  /** address/prefix entries (TRUSTED_PROXIES); none: the TCP peer is always the client. */
  readonly trustedProxies: readonly string[];
  readonly header: ProxyHeader;
}

/** What the client address is read from: the connection's peer and the request's headers. */
export interface ForwardedRequest {
  readonly socket: { readonly remoteAddress?: string | undefined };
  readonly headers: IncomingHttpHeaders;
}

/** RFC 7239 §6: `unknown`, or an obfuscated identifier the proxy chose (`_` then ALPHA, DIGIT, `.`, `_`, `-`). */
const OBFUSCATED = /^_[A-Za-z0-9._-]+$/;

/**
 * The address a request is counted and audited by. A request from a trusted proxy is from the right-most hop of the
 * proxy header that is not itself a trusted proxy: every hop to its right was appended by a proxy we trust, every hop
 * to its left by someone we do not, so they are ignored (a client can write anything there). A request from any other
 * peer is from that peer, whatever its headers say.
 */
export function clientAddressOf(options: ClientAddressOptions): (req: ForwardedRequest) => string {
  const isTrusted = trustedProxyCheck(options.trustedProxies);
  return (req) => {
    const peer = canonicalAddress(req.socket.remoteAddress ?? 'unknown');
    if (options.trustedProxies.length === 0 || !isTrusted(peer)) return peer;
    let nearest = peer;
    const hops = options.header === 'forwarded' ? forwardedHops(req.headers.forwarded) : forwardedForHops(req.headers['x-forwarded-for']);
    for (const hop of hops.reverse()) {
      if (isIP(hop) !== 0 && isTrusted(hop)) {
        nearest = hop;
        continue;
      }
      // A proxy that could not or would not name its client (`unknown`, garbage) leaves the proxy as the client: its
      // clients share its budget rather than escape one. An obfuscated identifier is the proxy's name for the client.
      return isIP(hop) !== 0 || OBFUSCATED.test(hop) ? hop : nearest;
    }
    return nearest;
  };
}

/** IPv4-mapped IPv6 (`::ffff:192.0.2.1`, a dual-stack socket's view of an IPv4 client) as IPv4; IPv6 lowercased. */
export function canonicalAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)?.[1];
  if (mapped !== undefined && isIP(mapped) === 4) return mapped;
  return address.toLowerCase();
}

/** Whether a canonical address (canonicalAddress) is in TRUSTED_PROXIES' address/prefix entries. */
export function trustedProxyCheck(entries: readonly string[]): (address: string) => boolean {
  const ranges = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix = ''] = entry.split('/');
    ranges.addSubnet(address, Number(prefix), isIP(address) === 4 ? 'ipv4' : 'ipv6');
  }
  return (address) => isIP(address) !== 0 && ranges.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6');
}

/** X-Forwarded-For: comma-separated nodes, the header lines joined in order. */
function forwardedForHops(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  return [header].flat().join(',').split(',').map((node) => nodeAddress(node.trim()));
}

/**
 * Forwarded (RFC 7239): comma-separated elements of `;`-separated `name=value` pairs, a value a token or a quoted
 * string (which may hold commas and semicolons); each element's `for` is a hop, an element without one an unknown hop.
 */
function forwardedHops(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const hops: string[] = [];
  let forNode = 'unknown';
  const pair = /\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,;\s]*)\s*([,;]|$)/y;
  const text = [header].flat().join(',');
  let index = 0;
  while (index < text.length) {
    pair.lastIndex = index;
    const match = pair.exec(text);
    if (match === null) {
      // Not the RFC's grammar: the rest cannot be split into hops reliably, so it counts as one unknown hop.
      hops.push('unknown');
      return hops;
    }
    const [whole, name = '', rawValue = '', separator] = match;
    if (name.toLowerCase() === 'for') forNode = nodeAddress(unquote(rawValue));
    if (separator !== ';') {
      hops.push(forNode);
      forNode = 'unknown';
    }
    index += whole.length;
  }
  return hops;
}

function unquote(value: string): string {
  return value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value;
}

/** A node without its port: `192.0.2.1:4711` → `192.0.2.1`, `[2001:db8::1]:4711` → `2001:db8::1`. */
function nodeAddress(node: string): string {
  const bracketed = /^\[([^\]]+)\](?::[\w.-]+)?$/.exec(node)?.[1];
  if (bracketed !== undefined) return isIP(bracketed) === 6 ? canonicalAddress(bracketed) : node;
  const v4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):[\w.-]+$/.exec(node)?.[1];
  const address = v4WithPort ?? node;
  return isIP(address) !== 0 ? canonicalAddress(address) : node;
}
