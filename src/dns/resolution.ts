// Resolution through DNS (RESOLVE_SOURCE=dns): an agent's `_atr` TXT record as any outsider sees it, through the
// registry's resolver, kept for its TTL.
import type { AgentStatus } from '../registry/records.ts';
import { type AtrTxt, parseAtrTxt } from './records.ts';

const STATUSES: readonly AgentStatus[] = ['active', 'revoked', 'expired'];

/** The TXT data at a name (each record's strings joined), or undefined when there is none (NXDOMAIN, NODATA). */
export type TxtLookup = (name: string) => Promise<{ readonly texts: readonly string[]; readonly ttl: number; readonly authenticated: boolean } | undefined>;

export interface DnsAnswer {
  readonly record: AtrTxt;
  /** What the record says of the agent now: an active record past its expiry reads as expired, as the registry would say. */
  readonly status: AgentStatus | undefined;
  /** The resolver validated the answer with DNSSEC. */
  readonly authenticated: boolean;
}

export interface DnsResolutionOptions {
  readonly lookup: TxtLookup;
  /** Answers kept at most; the oldest go first. */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

export class DnsResolution {
  private readonly lookup: TxtLookup;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, { readonly answer: DnsAnswer | undefined; readonly until: number }>();

  constructor(options: DnsResolutionOptions) {
    this.lookup = options.lookup;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** The agent's record in DNS, or undefined when DNS has none that parses. Throws when no resolver answers. */
  async resolve(agentName: string): Promise<DnsAnswer | undefined> {
    const cached = this.cache.get(agentName);
    if (cached !== undefined && cached.until > this.now()) return cached.answer && this.withStatus(cached.answer.record, cached.answer.authenticated);
    const found = await this.lookup(`_atr.${agentName}`);
    const record = found?.texts.map(parseAtrTxt).find((parsed) => parsed !== undefined);
    const answer = record === undefined ? undefined : this.withStatus(record, found?.authenticated ?? false);
    this.remember(agentName, answer, found?.ttl ?? 0);
    return answer;
  }

  private withStatus(record: AtrTxt, authenticated: boolean): DnsAnswer {
    const expired = record.status === 'active' && record.expiresAt !== undefined && record.expiresAt.getTime() <= this.now();
    return { record, authenticated, status: expired ? 'expired' : STATUSES.find((status) => status === record.status) };
  }

  private remember(agentName: string, answer: DnsAnswer | undefined, ttlSeconds: number): void {
    if (ttlSeconds <= 0) return;
    this.cache.delete(agentName);
    if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(agentName, { answer, until: this.now() + ttlSeconds * 1000 });
  }
}
