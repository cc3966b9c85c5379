// The SSRF guard: a webhook's URL is the owner's to choose, and the registry calls it from inside its own network,
// so the host must resolve to public addresses only. It is checked when the webhook is created and again before
// every delivery (a name can be made to resolve elsewhere after it was checked: DNS rebinding), and the delivery
// connects to the very address that was checked.
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { invalidArgument, quoted } from '../errors.ts';

/** Where one delivery goes: the URL, and the checked address its connection is made to. */
export interface Target {
  readonly url: URL;
  readonly address: string;
  readonly family: 4 | 6;
}

export type TargetCheck = { readonly ok: true; readonly target: Target } | { readonly ok: false; readonly reason: string };

/** Every address a host name resolves to (the system resolver's answer, as connections would use it). */
export type Resolve = (host: string) => Promise<{ address: string; family: number }[]>;

const systemResolve: Resolve = (host) => lookup(host, { all: true, verbatim: true });

const MAX_URL_LENGTH = 2048;

type Range = readonly [address: string, prefix: number];

/**
 * The address rules, in the order a match is named: metadata before the wider link-local, unique local and CGNAT
 * ranges that hold it. IPv4 ranges are also blocked where IPv6 embeds IPv4: mapped (::ffff:0:0/96), NAT64
 * (64:ff9b::/96) and 6to4 (2002::/16), since a connection there reaches the IPv4 address.
 */
const RULES: readonly { readonly name: string; readonly v4: readonly Range[]; readonly v6: readonly Range[] }[] = [
  // AWS, GCP, Azure, Oracle: 169.254.169.254 (and AWS's IPv6 fd00:ec2::254); Azure's wire server; Alibaba Cloud.
  { name: 'cloud metadata', v4: [['169.254.169.254', 32], ['168.63.129.16', 32], ['100.100.100.200', 32]], v6: [['fd00:ec2::254', 128]] },
  { name: 'unspecified', v4: [['0.0.0.0', 8]], v6: [['::', 128]] },
  { name: 'loopback', v4: [['127.0.0.0', 8]], v6: [['::1', 128]] },
  { name: 'private (RFC 1918)', v4: [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16]], v6: [] },
  { name: 'unique local (fc00::/7)', v4: [], v6: [['fc00::', 7], ['fec0::', 10]] },
  { name: 'link-local', v4: [['169.254.0.0', 16]], v6: [['fe80::', 10]] },
  { name: 'carrier-grade NAT (RFC 6598)', v4: [['100.64.0.0', 10]], v6: [] },
  { name: 'multicast', v4: [['224.0.0.0', 4]], v6: [['ff00::', 8]] },
  // 240/4 (with the broadcast address) and the IPv4-compatible ::/96 are not routed to anyone's endpoint.
  { name: 'reserved', v4: [['240.0.0.0', 4]], v6: [['::', 96]] },
];

const BLOCKS = RULES.map((rule) => {
  const list = new BlockList();
  for (const [address, prefix] of rule.v4) {
    list.addSubnet(address, prefix, 'ipv4');
    const [high, low] = hexGroups(address);
    list.addSubnet(`64:ff9b::${high}:${low}`, 96 + prefix, 'ipv6');
    list.addSubnet(`2002:${high}:${low}::`, 16 + prefix, 'ipv6');
  }
  for (const [address, prefix] of rule.v6) list.addSubnet(address, prefix, 'ipv6');
  return { name: rule.name, list };
});

/** The rule that forbids the address, or undefined when it is public. IPv4-mapped IPv6 is read as its IPv4. */
export function forbiddenBy(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return 'not an IP address';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  return BLOCKS.find((block) => block.list.check(address, type))?.name;
}

/** The URL a webhook may have: http or https, absolute, no credentials or fragment; throws InvalidArgument. */
export function checkWebhookUrl(raw: string): URL {
  if (raw.length > MAX_URL_LENGTH) throw invalidArgument('url', `must be at most ${MAX_URL_LENGTH} characters`);
  const url = URL.parse(raw);
  if (url === null) throw invalidArgument('url', `${quoted(raw)} is not an absolute URL`);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalidArgument('url', `must be http or https, not ${quoted(url.protocol.replace(/:$/, ''))}`);
  if (url.hostname === '') throw invalidArgument('url', 'must name a host');
  if (url.username !== '' || url.password !== '') throw invalidArgument('url', 'must not carry credentials (user:password@); authenticate deliveries by their signature');
  if (url.hash !== '') throw invalidArgument('url', 'must not have a fragment (#...)');
  return url;
}

/** The scheme, host and port of a URL: what logs and the audit trail name (a path or query may hold a token). */
export function originOf(url: string): string {
  return URL.parse(url)?.origin ?? '';
}

export interface TargetGuardOptions {
  /** WEBHOOK_ALLOW_PRIVATE: any address is allowed (development, tests, endpoints inside a trusted network). */
  readonly allowPrivate: boolean;
  readonly resolve?: Resolve;
}

export class TargetGuard {
  private readonly resolve: Resolve;

  constructor(private readonly options: TargetGuardOptions) {
    this.resolve = options.resolve ?? systemResolve;
  }

  /** Resolves the URL's host and checks every address it has; the target connects to the first. */
  async check(url: URL): Promise<TargetCheck> {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    let addresses: { address: string; family: number }[];
    if (isIP(host) !== 0) addresses = [{ address: host, family: isIP(host) }];
    else {
      try {
        addresses = await this.resolve(host);
      } catch (error) {
        return { ok: false, reason: `${host} does not resolve (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` };
      }
    }
    const first = addresses[0];
    if (first === undefined) return { ok: false, reason: `${host} does not resolve` };
    if (!this.options.allowPrivate) {
      // Every address, not only the one connected to: a name with one public and one private address is refused.
      for (const { address } of addresses) {
        const rule = forbiddenBy(address);
        const which = address === host ? `${address} is` : `${host} resolves to ${address},`;
        if (rule !== undefined) return { ok: false, reason: `${which} ${article(rule)} ${rule} address: webhooks call public addresses only` };
      }
    }
    return { ok: true, target: { url, address: first.address, family: first.family === 6 ? 6 : 4 } };
  }
}

/** 'a' or 'an' before a rule's name, as it is said: an unspecified, a unique local. */
function article(rule: string): string {
  return /^(?:[aeio]|u(?!ni))/.test(rule) ? 'an' : 'a';
}

/** The two 16-bit groups of an IPv4 address, in hex, as IPv6 notation writes them. */
function hexGroups(address: string): [string, string] {
  const [a = 0, b = 0, c = 0, d = 0] = address.split('.').map(Number);
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
}
