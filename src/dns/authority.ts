// The built-in server's answers: a decoded query and the zones' view in, the response message out, no I/O. An
// authoritative-only server (RFC 1034 section 4.3.2 without referrals or recursion): SOA and NS at each apex, the
// published RRsets below it, NXDOMAIN or NODATA with the SOA for negative caching (RFC 2308), REFUSED outside its
// zones, EDNS(0) (RFC 6891) and, for clients that set DO, DNSSEC records (see dnssec.ts for the denial scheme).
import dnsPacket from 'dns-packet';
import { NXNAME_TYPE, type RRsetSigner } from './dnssec.ts';
import { toPacketAnswers } from './wire.ts';
import { canonicalName, type ZoneView, zoneOf } from './zone.ts';

export interface AuthorityOptions {
  /** The zones' name servers, for NS and the SOA's MNAME; default ns1.<zone>. */
  readonly nameservers?: readonly string[];
  /** The SOA's RNAME as a DNS name (hostmaster.example.com); default hostmaster.<zone>. */
  readonly hostmaster?: string;
  /** The published records' TTL, also the SOA's TTL and MINIMUM and so the negative-caching TTL (RFC 2308). */
  readonly ttl: number;
  /** Signs answers for clients that set DO; without it the zones are unsigned. */
  readonly signer?: RRsetSigner;
}

/** The UDP payload size this server advertises: the DNS Flag Day 2020 figure, below common path MTUs. */
export const ADVERTISED_UDP_SIZE = 1232;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const OPCODE_QUERY = 0;
/** RFC 6891 section 9: an EDNS version this server does not speak, an extended rcode (16 = 1 << 4 | 0). */
const BADVERS_HIGH_BITS = 1;
const FLAG_AA = 1 << 10;
const FLAG_RD = 1 << 8;
const FLAG_CD = 1 << 4;
const EDNS_DO = 1 << 15;
/** RFC 9824 section 4: Compact Answer OK, the client takes NXDOMAIN beside a compact denial proof. */
const EDNS_CO = 1 << 14;
const NS_TTL = 3600;
const NXNAME = `UNKNOWN_${NXNAME_TYPE}`;

interface Edns {
  readonly present: boolean;
  readonly dnssecOk: boolean;
  readonly compactOk: boolean;
}

/** The response to `query`, answered from `view`. */
export function answerQuery(query: dnsPacket.DecodedPacket, view: ZoneView, options: AuthorityOptions): dnsPacket.Packet {
  const opcode = ((query.flags ?? 0) >> 11) & 0xf;
  const questions = query.questions ?? [];
  const opts = (query.additionals ?? []).filter((a): a is dnsPacket.OptAnswer => a.type === 'OPT');
  const edns: Edns = {
    present: opts.length > 0,
    dnssecOk: ((opts[0]?.flags ?? 0) & EDNS_DO) !== 0,
    compactOk: ((opts[0]?.flags ?? 0) & EDNS_CO) !== 0,
  };
  const reply = (rcode: number, sections: Sections = {}, authoritative = false): dnsPacket.Packet =>
    response(query, opcode, rcode, authoritative, edns, sections);

  if (opcode !== OPCODE_QUERY) return reply(RCODE.NOTIMP);
  if (questions.length !== 1 || opts.length > 1) return reply(RCODE.FORMERR);
  if ((opts[0]?.ednsVersion ?? 0) !== 0) return { ...reply(RCODE.NOERROR), additionals: [optRecord(edns, BADVERS_HIGH_BITS)] };
  const question = questions[0]!;
  const qname = canonicalName(question.name);
  const zone = zoneOf(qname, view.apexes);
  if (zone === undefined || (question.class ?? 'IN') !== 'IN') return reply(RCODE.REFUSED);
  const qtype: string = question.type; // dns-packet's names, UNKNOWN_<n> for types it does not know (SVCB: UNKNOWN_64)
  if (qtype === 'AXFR' || qtype === 'IXFR') return reply(RCODE.REFUSED); // no zone transfers

  // DNSKEY is served to everyone; RRSIGs and NSECs only to clients that set DO (RFC 4035 section 3.2.1).
  const signer = edns.dnssecOk ? options.signer : undefined;
  const zoneData = new ZoneAnswers(zone, view, options, signer);
  const sets = zoneData.rrsetsAt(qname);
  if (sets === undefined) {
    const denial = zoneData.denial(qname, [NXNAME]);
    // With a proof, NOERROR: the proof has the shape of NODATA (dnssec.ts), unless the client asked for NXDOMAIN.
    const rcode = signer !== undefined && !edns.compactOk ? RCODE.NOERROR : RCODE.NXDOMAIN;
    return reply(rcode, { authorities: denial }, true);
  }
  // ANY gets one RRset, as RFC 8482 allows, not the whole name.
  const wanted = qtype === 'ANY' ? [...sets.values()].slice(0, 1) : [sets.get(qtype)].filter((s) => s !== undefined);
  if (wanted.length === 0) return reply(RCODE.NOERROR, { authorities: zoneData.denial(qname, [...sets.keys()]) }, true);
  return reply(RCODE.NOERROR, { answers: wanted.flatMap((set) => zoneData.signed(set)) }, true);
}

/** One zone's RRsets as answers, with the server's own SOA, NS and DNSKEY at the apex, signed when asked. */
class ZoneAnswers {
  constructor(
    readonly zone: string,
    readonly view: ZoneView,
    readonly options: AuthorityOptions,
    readonly signer: RRsetSigner | undefined,
  ) {}

  /** The name's RRsets by dns-packet type name, or undefined when the name does not exist. */
  rrsetsAt(name: string): Map<string, dnsPacket.Answer[]> | undefined {
    const published = this.view.rrsetsAt(name);
    const apex = name === this.zone;
    if (published === undefined && !apex) return undefined;
    const sets = new Map<string, dnsPacket.Answer[]>();
    if (apex) {
      sets.set('SOA', [this.soa()]);
      sets.set('NS', this.nameservers().map((ns): dnsPacket.Answer => ({ type: 'NS', name, ttl: NS_TTL, class: 'IN', data: ns })));
      if (this.options.signer !== undefined) sets.set('DNSKEY', this.options.signer.dnskeys(this.zone));
    }
    for (const rrset of published ?? []) {
      const answers = toPacketAnswers(rrset);
      if (answers[0] !== undefined) sets.set(answers[0].type, answers);
    }
    // A signed name's NSEC answers a query for NSEC itself; its bitmap lists it, so NODATA would contradict it.
    if (this.options.signer !== undefined) sets.set('NSEC', [this.nsec(name, [...sets.keys()])]);
    return sets;
  }

  /** The compact-denial NSEC owned by `name` (dnssec.ts): next name `\000.<name>`, covering no other name. */
  nsec(name: string, types: readonly string[]): dnsPacket.Answer {
    const rrtypes = [...new Set([...types, 'RRSIG', 'NSEC'])];
    return { type: 'NSEC', name, ttl: this.options.ttl, class: 'IN', data: { nextDomain: `\u0000.${name}`, rrtypes } };
  }

  /** The SOA for negative caching, and with DNSSEC the compact-denial NSEC at the query name (dnssec.ts). */
  denial(qname: string, types: readonly string[]): dnsPacket.Answer[] {
    const records = this.signed([this.soa()]);
    return this.signer === undefined ? records : [...records, ...this.signed([this.nsec(qname, types)])];
  }

  signed(rrset: dnsPacket.Answer[]): dnsPacket.Answer[] {
    return this.signer === undefined ? rrset : [...rrset, this.signer.sign(this.zone, rrset)];
  }

  soa(): dnsPacket.Answer {
    const ttl = this.options.ttl;
    const data: dnsPacket.SoaData = {
      mname: this.nameservers()[0]!,
      rname: canonicalName(this.options.hostmaster ?? `hostmaster.${this.zone}`),
      serial: this.view.serial(this.zone) >>> 0,
      refresh: 3600,
      retry: 600,
      expire: 14 * 86_400,
      minimum: ttl,
    };
    return { type: 'SOA', name: this.zone, ttl, class: 'IN', data };
  }

  nameservers(): string[] {
    const names = this.options.nameservers ?? [];
    return names.length > 0 ? names.map(canonicalName) : [`ns1.${this.zone}`];
  }
}

interface Sections {
  readonly answers?: dnsPacket.Answer[];
  readonly authorities?: dnsPacket.Answer[];
}

function response(query: dnsPacket.DecodedPacket, opcode: number, rcode: number, authoritative: boolean, edns: Edns, sections: Sections): dnsPacket.Packet {
  const copied = (query.flags ?? 0) & (FLAG_RD | FLAG_CD);
  return {
    type: 'response',
    id: query.id ?? 0,
    flags: (opcode << 11) | (authoritative ? FLAG_AA : 0) | copied | rcode,
    questions: opcode === OPCODE_QUERY && (query.questions?.length ?? 0) === 1 ? query.questions : [],
    answers: sections.answers ?? [],
    authorities: sections.authorities ?? [],
    additionals: edns.present ? [optRecord(edns, 0)] : [],
  };
}

/** The response's OPT: our UDP size, DO echoed (RFC 3225), CO echoed when we honoured it (RFC 9824). */
function optRecord(edns: Edns, extendedRcode: number): dnsPacket.Answer {
  const flags = (edns.dnssecOk ? EDNS_DO : 0) | (edns.compactOk ? EDNS_CO : 0);
  return { type: 'OPT', name: '.', udpPayloadSize: ADVERTISED_UDP_SIZE, extendedRcode, ednsVersion: 0, flags, flag_do: edns.dnssecOk, options: [] };
}
