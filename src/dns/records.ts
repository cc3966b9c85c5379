// The records an agent gets in DNS, computed from its registry record alone: the same agent always yields the
// same RRsets, so publication is a diff between what was published and what this returns.
import { X509Certificate, createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { spiffeIdOf } from '../pki/spiffe-id.ts';
import { type AgentRecord, statusOf } from '../registry/records.ts';
import type { RRset, SvcParam, SrvData, SvcbData } from './rrset.ts';
import { zoneOf } from './zone.ts';

export interface AgentRecordOptions {
  readonly zones: readonly string[];
  readonly ttl: number;
  readonly trustDomain: string;
  /** The registry's public base URL: SVCB records point at the agent's record there. */
  readonly registryUrl: string;
  /** The index of the agent's latest transparency-log leaf, when the log is on. */
  readonly logIndex: number | undefined;
  readonly now: Date;
}

/** The agent's RRsets and the zone they go in, or notInZone when its name lies in none of the zones. */
export type AgentRecords = { readonly zone: string; readonly rrsets: readonly RRset[] } | { readonly zone: undefined };

/** RFC 1035 caps one character-string at 255 bytes; longer TXT data is split and consumers concatenate. */
const MAX_STRING_BYTES = 255;

/** The label under which DNS-AID (draft-mozleywilliams-dnsop-dnsaid-02, §3.1) lists an organisation's agents. */
const AGENTS_LABEL = '_agents';

/** A private-use SvcParamKey (RFC 9460 §14.3.1) carrying the URI of the agent's record at the registry (DNS-AID `cap`). */
export const CAP_KEY = 'key65400';

/**
 * - `_atr.<name>` TXT: status, fingerprint, SPIFFE ID, log index, expiry and capabilities — kept after a revocation
 *   with status=revoked, so a peer learns of it from a (signed) answer rather than from an absence anyone could forge
 *   by dropping packets;
 * - `_<port>._tcp.<name>` TLSA 3 1 1 (DANE-EE, SHA-256 of the SubjectPublicKeyInfo) for each endpoint port (443
 *   without endpoints), only while the agent is active: a revoked or expired key must not validate through DNS;
 * - `_<scheme>._tcp.<name>` SRV for endpoints that name a port, and DNS-AID SVCB records (ServiceMode at the
 *   agent's name, one per endpoint; AliasMode at `<name relative to the zone>._agents.<zone>`), only while active.
 */
export function agentRecords(agent: AgentRecord, options: AgentRecordOptions): AgentRecords {
  const zone = zoneOf(agent.name, options.zones);
  if (zone === undefined) return { zone: undefined };
  const status = statusOf(agent, options.now);
  const rrsets: RRset[] = [txtRecord(agent, status, options)];
  if (status === 'active' && agent.certificate) {
    const endpoints = agent.endpoints.map(parseEndpoint).filter((endpoint) => endpoint !== undefined);
    rrsets.push(...tlsaRecords(agent.name, agent.certificate.pem, endpoints, options.ttl));
    rrsets.push(...srvRecords(agent.name, endpoints, options.ttl));
    rrsets.push(...svcbRecords(agent.name, zone, endpoints, options));
  }
  return { zone, rrsets };
}

function txtRecord(agent: AgentRecord, status: string, options: AgentRecordOptions): RRset<'TXT'> {
  const fields = [
    'v=atr1',
    `status=${status}`,
    `fp=sha256:${agent.certificate?.fingerprint ?? ''}`,
    `spiffe=${spiffeIdOf(options.trustDomain, agent.name)}`,
    ...(options.logIndex === undefined ? [] : [`log=${options.logIndex}`]),
    ...(agent.certificate ? [`exp=${Math.floor(agent.certificate.notAfter.getTime() / 1000)}`] : []),
    ...(agent.revocationReason ? [`reason=${agent.revocationReason}`] : []),
    `caps=${agent.capabilities.join(',')}`,
  ];
  return { name: `_atr.${agent.name}`, type: 'TXT', ttl: options.ttl, records: [{ strings: splitStrings(fields.join('; ')) }] };
}

/** Splits text into character-strings of at most 255 bytes, never inside a UTF-8 sequence. */
export function splitStrings(text: string): string[] {
  const strings: string[] = [];
  let current = '';
  let bytes = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char);
    if (bytes + size > MAX_STRING_BYTES) {
      strings.push(current);
      current = '';
      bytes = 0;
    }
    current += char;
    bytes += size;
  }
  strings.push(current);
  return strings;
}

interface Endpoint {
  readonly scheme: string;
  readonly host: string;
  /** The port the URI names, or its scheme's default. */
  readonly port: number;
  readonly explicitPort: boolean;
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { https: 443, wss: 443, grpcs: 443, http: 80, ws: 80, grpc: 80 };
const ALPN: Readonly<Record<string, string>> = { https: 'h2,http/1.1', wss: 'http/1.1', grpcs: 'h2', grpc: 'h2' };

function parseEndpoint(uri: string): Endpoint | undefined {
  const url = URL.parse(uri);
  if (url === null) return undefined;
  const scheme = url.protocol.slice(0, -1);
  const explicitPort = url.port !== '';
  const port = explicitPort ? Number(url.port) : DEFAULT_PORTS[scheme];
  if (port === undefined || url.hostname === '') return undefined;
  return { scheme, host: url.hostname.replace(/^\[|\]$/g, '').toLowerCase(), port, explicitPort };
}

function tlsaRecords(name: string, certificatePem: string, endpoints: readonly Endpoint[], ttl: number): RRset<'TLSA'>[] {
  const data = spkiSha256(certificatePem);
  return portsOf(endpoints).map((port) => ({ name: `_${port}._tcp.${name}`, type: 'TLSA', ttl, records: [{ usage: 3, selector: 1, matchingType: 1, data }] }));
}

/** The ports an agent with these endpoint URIs gets a TLSA record for: each endpoint's, or 443 without endpoints. */
export function tlsaPorts(endpointUris: readonly string[]): number[] {
  return portsOf(endpointUris.map(parseEndpoint).filter((endpoint) => endpoint !== undefined));
}

function portsOf(endpoints: readonly Endpoint[]): number[] {
  return endpoints.length === 0 ? [443] : [...new Set(endpoints.map((endpoint) => endpoint.port))];
}

/** A TLSA 3 1 1 record's data: the SHA-256 of the certificate's SubjectPublicKeyInfo, lowercase hex. */
export function spkiSha256(certificatePem: string): string {
  const spki = new X509Certificate(certificatePem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex');
}

function srvRecords(name: string, endpoints: readonly Endpoint[], ttl: number): RRset<'SRV'>[] {
  const byScheme = new Map<string, SrvData[]>();
  endpoints.forEach((endpoint, order) => {
    if (!endpoint.explicitPort || isIP(endpoint.host) !== 0) return;
    const records = byScheme.get(endpoint.scheme) ?? [];
    records.push({ priority: order, weight: 0, port: endpoint.port, target: endpoint.host });
    byScheme.set(endpoint.scheme, records);
  });
  return [...byScheme].map(([scheme, records]) => ({ name: `_${scheme}._tcp.${name}`, type: 'SRV', ttl, records }));
}

function svcbRecords(name: string, zone: string, endpoints: readonly Endpoint[], options: AgentRecordOptions): RRset<'SVCB'>[] {
  if (endpoints.length === 0) return [];
  const { ttl, registryUrl } = options;
  const services: SvcbData[] = endpoints.map((endpoint, order) => ({
    priority: order + 1,
    target: isIP(endpoint.host) === 0 ? endpoint.host : '.',
    params: svcParams(endpoint, `${registryUrl}/v1/resolve/${name}`),
  }));
  const relative = name === zone ? '' : `${name.slice(0, -(zone.length + 1))}.`;
  return [
    { name, type: 'SVCB', ttl, records: services },
    { name: `${relative}${AGENTS_LABEL}.${zone}`, type: 'SVCB', ttl, records: [{ priority: 0, target: name, params: [] }] },
  ];
}

/** alpn, port, an address hint when the endpoint is an IP literal, and the record's URI at the registry, in key order. */
function svcParams(endpoint: Endpoint, recordUrl: string): SvcParam[] {
  const alpn = ALPN[endpoint.scheme];
  const family = isIP(endpoint.host);
  return [
    ...(alpn === undefined ? [] : [{ key: 'alpn', value: alpn }]),
    { key: 'port', value: String(endpoint.port) },
    ...(family === 4 ? [{ key: 'ipv4hint', value: endpoint.host }] : []),
    ...(family === 6 ? [{ key: 'ipv6hint', value: endpoint.host }] : []),
    { key: CAP_KEY, value: recordUrl },
  ];
}

/** What an `_atr` TXT record says, read back: the fields agentRecords writes. */
export interface AtrTxt {
  readonly status: string;
  readonly fingerprint: string;
  readonly spiffeId: string;
  readonly logIndex: number | undefined;
  readonly expiresAt: Date | undefined;
  readonly reason: string | undefined;
  readonly capabilities: readonly string[];
}

/** Parses the TXT data (its strings concatenated); undefined when it is not a v=atr1 record. */
export function parseAtrTxt(text: string): AtrTxt | undefined {
  const fields = new Map<string, string>();
  for (const part of text.split(';')) {
    const at = part.indexOf('=');
    if (at > 0) fields.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  if (fields.get('v') !== 'atr1') return undefined;
  const number = (value: string | undefined) => (value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined);
  const exp = number(fields.get('exp'));
  const caps = fields.get('caps') ?? '';
  return {
    status: fields.get('status') ?? '',
    fingerprint: (fields.get('fp') ?? '').replace(/^sha256:/, ''),
    spiffeId: fields.get('spiffe') ?? '',
    logIndex: number(fields.get('log')),
    expiresAt: exp === undefined ? undefined : new Date(exp * 1000),
    reason: fields.get('reason'),
    capabilities: caps === '' ? [] : caps.split(','),
  };
}
