// Bytes in, bytes out: what a DNS transport calls for each message. Decodes with dns-packet (malformed input gets
// FORMERR when its header can be read, and is dropped otherwise), answers with authority.ts, encodes, and fits UDP
// answers to the client's size by truncating (TC) so the client asks again over TCP (RFC 7766). Answers to plain
// queries are kept encoded (answer-cache.ts). Label compression cannot loop: dns-packet follows a pointer only to an
// offset before the one it read it at (anything else throws: FORMERR) and stops names at 254 bytes.
import dnsPacket from 'dns-packet';
import { AnswerCache, type PlainQuery } from './answer-cache.ts';
import { ADVERTISED_UDP_SIZE, answerQuery, type AuthorityOptions, RCODE } from './authority.ts';
import { canonicalName, type ZoneView, zoneOf } from './zone.ts';

export type Transport = 'udp' | 'tcp';

/** Answers one DNS message: the response's bytes, or undefined to send nothing. */
export type Respond = (message: Buffer, transport: Transport) => Buffer | undefined;

export interface ResponderOptions extends AuthorityOptions {
  /** How many encoded answers to keep; 0 turns the cache off. */
  readonly answerCacheSize?: number;
}

/** RFC 1035 section 4.2.1: the UDP size a client without EDNS takes. */
const CLASSIC_UDP_SIZE = 512;
const HEADER_SIZE = 12;
const FLAG_QR = 0x8000;
const FLAG_TC = 0x0200;
/** What a TCP length prefix can carry. */
const MAX_MESSAGE = 65_535;
/** Answers worth keeping: from a zone, positive or negative. REFUSED and errors are not (anyone can vary them). */
const CACHED_RCODES = new Set<number>([RCODE.NOERROR, RCODE.NXDOMAIN]);

export function createResponder(view: ZoneView, options: ResponderOptions): Respond {
  const capacity = options.answerCacheSize ?? 10_000;
  const cache = capacity > 0 ? new AnswerCache(view, ADVERTISED_UDP_SIZE, capacity) : undefined;
  return (message, transport) => {
    // Too short for a header, or a response (answering one could start a loop between two servers): nothing.
    if (message.length < HEADER_SIZE || (message.readUInt16BE(2) & FLAG_QR) !== 0) return undefined;
    const plain = cache?.parse(message);
    const cached = plain === undefined ? undefined : cache?.answer(message, plain, transport === 'udp' ? plain.udpLimit : MAX_MESSAGE);
    if (cached !== undefined) return cached;

    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return headerOnly(message, RCODE.FORMERR);
    }
    let answer: dnsPacket.Packet;
    let encoded: Buffer;
    try {
      answer = answerQuery(query, view, options);
      encoded = dnsPacket.encode(answer);
    } catch {
      return headerOnly(message, RCODE.SERVFAIL);
    }
    if (encoded.length > MAX_MESSAGE) return headerOnly(message, RCODE.SERVFAIL);
    const cut = () => truncated(answer);
    if (plain !== undefined && cache !== undefined) keep(cache, message, plain, query, answer, encoded, cut(), view);
    if (transport === 'udp' && encoded.length > (plain?.udpLimit ?? udpLimit(query))) return cut();
    return encoded;
  };
}

function keep(cache: AnswerCache, message: Buffer, plain: PlainQuery, query: dnsPacket.DecodedPacket, answer: dnsPacket.Packet, encoded: Buffer, cut: Buffer, view: ZoneView): void {
  const name = query.questions?.[0]?.name;
  const zone = name === undefined ? undefined : zoneOf(canonicalName(name), view.apexes);
  if (zone === undefined || !CACHED_RCODES.has((answer.flags ?? 0) & 0xf)) return;
  cache.store(message, plain, zone, view.serial(zone), encoded, cut);
}

/** The largest UDP answer the client takes: 512 without EDNS, else its size, never above what we advertise. */
function udpLimit(query: dnsPacket.DecodedPacket): number {
  const opt = query.additionals?.find((a): a is dnsPacket.OptAnswer => a.type === 'OPT');
  if (opt === undefined) return CLASSIC_UDP_SIZE;
  return Math.min(Math.max(opt.udpPayloadSize, CLASSIC_UDP_SIZE), ADVERTISED_UDP_SIZE);
}

/** The answer cut to its header, question and OPT, TC set: the client retries over TCP (RFC 2181 section 9). */
function truncated(answer: dnsPacket.Packet): Buffer {
  return dnsPacket.encode({
    ...answer,
    flags: (answer.flags ?? 0) | FLAG_TC,
    answers: [],
    authorities: [],
    additionals: (answer.additionals ?? []).filter((a) => a.type === 'OPT'),
  });
}

/** A header-only response to a message we could not answer properly: its id, opcode and RD kept, `rcode` set. */
function headerOnly(message: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(HEADER_SIZE);
  message.copy(out, 0, 0, 2);
  const flags = message.readUInt16BE(2);
  out.writeUInt16BE(FLAG_QR | (flags & 0x7900) | rcode, 2); // opcode (0x7800) and RD (0x0100)
  return out;
}
