// `atr dns lookup`: what DNS says about an agent, asked like any outsider, set beside what the registry says. A
// difference is a stale record (DNS has not followed a change yet) or a forged one; either way a peer trusting DNS
// would be wrong, so any difference fails the command.
import { AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import type { ResolveAgentResponse } from '../../gen/atr/v1/resolve_pb.js';
import { queryDns } from '../dns-client/query.ts';
import { tlsaPresentation } from '../dns/presentation.ts';
import { parseAtrTxt, spkiSha256 } from '../dns/records.ts';
import type { RecordData } from '../dns/rrset.ts';
import { fromPacketAnswer } from '../dns/wire.ts';
import { statusWord } from './output.ts';

/** One comparison: a value DNS gives beside the value the registry's answer implies. */
export interface Check {
  /** What is compared, e.g. `TXT fingerprint`, `TLSA port 443`. */
  readonly check: string;
  /** The DNS name asked. */
  readonly owner: string;
  readonly dns: string;
  readonly registry: string;
  readonly ok: boolean;
  /** The resolver set AD on the reply: it validated the answer with DNSSEC. */
  readonly validated: boolean;
  /** The resolver that answered, host:port. */
  readonly resolver: string;
  /** What a difference means, for the mismatch line. */
  readonly why: string;
}

/** Shown for a record DNS does not have, or the registry says should not exist. */
const NONE = '(none)';

interface Reply<T extends 'TXT' | 'TLSA'> {
  /** The data of the records of the asked name and type; empty for NXDOMAIN and NODATA. */
  readonly records: readonly RecordData<T>[];
  /** The rcode when it is neither NOERROR nor NXDOMAIN (SERVFAIL: e.g. the answer failed DNSSEC validation). */
  readonly failure: string | undefined;
  readonly validated: boolean;
  readonly resolver: string;
}

async function ask<T extends 'TXT' | 'TLSA'>(name: string, type: T, servers: readonly string[]): Promise<Reply<T>> {
  const reply = await queryDns(name, type, { servers, dnssec: true });
  const failed = reply.rcode !== 'NOERROR' && reply.rcode !== 'NXDOMAIN';
  const records = reply.answers
    .filter((answer) => answer.name.toLowerCase() === name.toLowerCase())
    .map(fromPacketAnswer)
    .filter((decoded) => decoded?.type === type)
    .map((decoded) => decoded?.data as RecordData<T>);
  return { records, failure: failed ? reply.rcode : undefined, validated: reply.authenticated, resolver: reply.server };
}

/**
 * Asks DNS (`servers`, default the system's resolvers) for the agent's `_atr` TXT record and its TLSA records at
 * `ports`, and compares them with the registry's answer: the TXT record's status, fingerprint and SPIFFE ID, and the
 * TLSA data against the SHA-256 of the certificate's public key (no TLSA at all unless the agent is active).
 */
export async function compareWithDns(agent: ResolveAgentResponse, ports: readonly number[], servers: readonly string[]): Promise<Check[]> {
  const name = agent.agentName;
  const txt = await ask(`_atr.${name}`, 'TXT', servers);
  const checks = txtChecks(agent, txt);
  const expected = agent.status === AgentStatus.ACTIVE ? expectedTlsa(agent.certPem) : NONE;
  for (const port of ports) {
    const owner = `_${port}._tcp.${name}`;
    const reply = await ask(owner, 'TLSA', servers);
    const dns = reply.failure ?? (reply.records.length === 0 ? NONE : reply.records.map(tlsaPresentation).sort().join(', '));
    checks.push(check(`TLSA port ${port}`, owner, dns, expected, reply));
  }
  return checks;
}

function txtChecks(agent: ResolveAgentResponse, reply: Reply<'TXT'>): Check[] {
  const owner = `_atr.${agent.agentName}`;
  const parsed = reply.records.map((txt) => parseAtrTxt(txt.strings.join(''))).filter((record) => record !== undefined);
  const [record] = parsed;
  if (reply.failure !== undefined || record === undefined || parsed.length > 1) {
    const dns = reply.failure ?? (parsed.length === 0 ? NONE : `${parsed.length} v=atr1 records`);
    return [check('TXT record', owner, dns, 'one v=atr1 record', reply)];
  }
  return [
    check('TXT status', owner, record.status, statusWord(agent.status), reply),
    check('TXT fingerprint', owner, `sha256:${record.fingerprint.toLowerCase()}`, `sha256:${agent.certFingerprint.toLowerCase()}`, reply),
    check('TXT spiffe id', owner, record.spiffeId, agent.spiffeId, reply),
  ];
}

function check(what: string, owner: string, dns: string, registry: string, reply: Reply<'TXT' | 'TLSA'>): Check {
  return { check: what, owner, dns, registry, ok: dns === registry, validated: reply.validated, resolver: reply.resolver, why: why(dns, registry, reply) };
}

function why(dns: string, registry: string, reply: Reply<'TXT' | 'TLSA'>): string {
  if (reply.failure !== undefined) return 'the resolver could not answer: a validating resolver says SERVFAIL when the answer fails DNSSEC';
  if (dns === NONE) return 'the record is missing';
  if (registry === NONE) return 'a record the registry does not publish';
  return 'a stale or forged record';
}

/** `3 1 1 <hex>` (DANE-EE, SPKI, SHA-256) for the certificate, as the registry publishes it. */
function expectedTlsa(certPem: string): string {
  if (certPem === '') return '(the registry returned no certificate)';
  return tlsaPresentation({ usage: 3, selector: 1, matchingType: 1, data: spkiSha256(certPem) });
}

/** The line saying what differs, for a check that failed. */
export function mismatchLine(check: Check): string {
  return `MISMATCH: ${check.owner} ${check.check}: DNS has ${check.dns}, the registry says ${check.registry} (${check.why})`;
}
