// What the registry publishes in DNS, in a form every provider and the built-in server share: resource-record sets
// with provider-neutral, JSON-storable data. Names are absolute, lowercase, without the trailing dot.

/** The record types agents get; the built-in server adds SOA, NS and (with DNSSEC) DNSKEY, RRSIG and NSEC itself. */
export type PublishedType = 'TXT' | 'TLSA' | 'SRV' | 'SVCB';

export interface TxtData {
  /** RFC 1035 character-strings, each at most 255 bytes of UTF-8. */
  readonly strings: readonly string[];
}

export interface TlsaData {
  /** 3 = DANE-EE (RFC 7671). */
  readonly usage: number;
  /** 1 = SubjectPublicKeyInfo. */
  readonly selector: number;
  /** 1 = SHA-256. */
  readonly matchingType: number;
  /** The association data, lowercase hex. */
  readonly data: string;
}

export interface SrvData {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  /** A host name, absolute, lowercase, without the trailing dot. */
  readonly target: string;
}

/** One SvcParam in presentation form: a registered key name (alpn, port, ...) or keyNNNNN, and its value. */
export interface SvcParam {
  readonly key: string;
  /** The value as RFC 9460 presentation text (alpn: comma-separated ids; port: decimal; others: as the key defines). */
  readonly value: string;
}

export interface SvcbData {
  /** 0 = AliasMode, otherwise ServiceMode. */
  readonly priority: number;
  readonly target: string;
  /** In ascending key order, as RFC 9460 requires on the wire. */
  readonly params: readonly SvcParam[];
}

export type RecordData<T extends PublishedType = PublishedType> = T extends 'TXT'
  ? TxtData
  : T extends 'TLSA'
    ? TlsaData
    : T extends 'SRV'
      ? SrvData
      : SvcbData;

/** All records of one name and type, with one TTL. */
export interface RRset<T extends PublishedType = PublishedType> {
  readonly name: string;
  readonly type: T;
  readonly ttl: number;
  readonly records: readonly RecordData<T>[];
}

/** The identity of an RRset: its name and type. */
export const rrsetKey = (rrset: Pick<RRset, 'name' | 'type'>): string => `${rrset.name} ${rrset.type}`;

/** A change to one zone: sets to create or replace whole, sets to delete whole. */
export interface ZoneChange {
  readonly zone: string;
  readonly upsert: readonly RRset[];
  readonly remove: readonly RRset[];
}

/**
 * Where published records go: the built-in server's zone table, or another authoritative server (RFC 2136) or a
 * provider's API. apply() is idempotent (an upsert of what is there, a delete of what is not, succeed) so a change
 * can be retried after any failure.
 */
export interface DnsProvider {
  readonly name: 'local' | 'rfc2136' | 'route53' | 'cloudflare';
  apply(change: ZoneChange): Promise<void>;
  close?(): Promise<void>;
}

/**
 * A provider's refusal. retryable: the same change may succeed later (timeouts, 5xx, throttling, SERVFAIL);
 * retryAfterMs: when the provider said how long to wait. A non-retryable error (bad credentials, a zone it does
 * not serve, a malformed change) marks the agent's DNS failed until the next change or an operator's retry.
 */
export class DnsProviderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'DnsProviderError';
  }
}
