import type dnsPacket from 'dns-packet';
import type { TxtLookup } from '../dns/resolution.ts';
import { queryDns } from './query.ts';

/** TXT lookups through `servers` (default the system's), with DNSSEC asked for so the reply says whether it validated. */
export function txtLookup(servers: readonly string[]): TxtLookup {
  return async (name) => {
    const reply = await queryDns(name, 'TXT', { servers, dnssec: true });
    if (reply.rcode !== 'NOERROR' && reply.rcode !== 'NXDOMAIN') throw new Error(`${reply.server} answered ${reply.rcode} for ${name} TXT`);
    const records = reply.answers.filter(
      (answer): answer is dnsPacket.TxtAnswer => answer.type === 'TXT' && answer.name.toLowerCase() === name.toLowerCase(),
    );
    if (records.length === 0) return undefined;
    const texts = records.map((answer) => [answer.data].flat().map((chunk) => chunk.toString()).join(''));
    const ttl = Math.min(...records.map((answer) => answer.ttl ?? 0));
    return { texts, ttl, authenticated: reply.authenticated };
  };
}
