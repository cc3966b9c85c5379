// Encoded answers kept per (name, type, class, EDNS flags) and the zone's serial, so a hot name is answered by
// copying bytes: decoding, answering, signing and encoding a query cost several times what the UDP round trip
// does. A query is looked up only when it has the plain shape of almost every real query (one question, no
// compression, printable ASCII labels, at most an EDNS version 0 OPT); anything else takes the full path. A hit
// gets the query's id, RD and CD bits and question bytes (the client's letter case, RFC 4343) written over the
// stored answer. An entry serves until its zone's serial changes or MAX_AGE_MS passes (well inside the RRSIGs'
// validity; dnssec.ts renews those after half of it).
import type { ZoneView } from './zone.ts';

const MAX_AGE_MS = 60_000;
const HEADER_SIZE = 12;
const CLASSIC_UDP_SIZE = 512;
const TYPE_OPT = 41;
const EDNS_DO = 0x8000;
const EDNS_CO = 0x4000;

/** What a plain query says, read straight from its bytes. */
export interface PlainQuery {
  /** The lowercase name, type, class and EDNS flags: what the answer depends on besides the zone. */
  readonly key: string;
  /** Where the question ends: bytes 12..questionEnd are the client's question, copied into the answer. */
  readonly questionEnd: number;
  /** The largest UDP answer the client takes (512 without EDNS, else its size within [512, advertised]). */
  readonly udpLimit: number;
}

interface Entry {
  readonly zone: string;
  readonly serial: number;
  readonly storedAt: number;
  readonly answer: Buffer;
  /** The answer cut to fit UDP (TC set), for clients whose size it exceeds. */
  readonly truncated: Buffer;
}

export class AnswerCache {
  readonly #entries = new Map<string, Entry>();

  constructor(
    readonly view: ZoneView,
    readonly advertisedUdpSize: number,
    readonly capacity = 10_000,
    readonly now: () => number = Date.now,
  ) {}

  /** The stored answer to `message`, truncated when over `maxSize`; undefined when none is stored or it went stale. */
  answer(message: Buffer, query: PlainQuery, maxSize: number): Buffer | undefined {
    const entry = this.#entries.get(query.key);
    if (entry === undefined) return undefined;
    if (this.view.serial(entry.zone) !== entry.serial || this.now() - entry.storedAt > MAX_AGE_MS) {
      this.#entries.delete(query.key);
      return undefined;
    }
    const stored = entry.answer.length > maxSize ? entry.truncated : entry.answer;
    const out = Buffer.allocUnsafe(stored.length);
    stored.copy(out);
    message.copy(out, 0, 0, 2); // id
    out[2] = (out[2]! & ~0x01) | (message[2]! & 0x01); // RD, copied from the query
    out[3] = (out[3]! & ~0x10) | (message[3]! & 0x10); // CD, likewise
    message.copy(out, HEADER_SIZE, HEADER_SIZE, query.questionEnd);
    return out;
  }

  /** Keeps `answer` (and its truncated form) for queries like `query` while `zone` stays at `serial`. */
  store(message: Buffer, query: PlainQuery, zone: string, serial: number, answer: Buffer, truncated: Buffer): void {
    // Hits copy the query's question over the answer's, so the answer must carry it byte for byte up to case.
    const question = (bytes: Buffer) => bytes.toString('latin1', HEADER_SIZE, query.questionEnd).toLowerCase();
    const asked = question(message);
    if (question(answer) !== asked || question(truncated) !== asked) return;
    if (this.#entries.size >= this.capacity) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(query.key, { zone, serial, storedAt: this.now(), answer, truncated });
  }

  /** The query's key and shape when it is plain (see the top of this file), else undefined. */
  parse(message: Buffer): PlainQuery | undefined {
    if (message.length < HEADER_SIZE + 5) return undefined;
    // QR clear, opcode QUERY; one question; no answers or authorities; at most one additional (the OPT).
    if ((message[2]! & 0xf8) !== 0 || message.readUInt32BE(4) !== 0x00010000 || message.readUInt16BE(8) !== 0) return undefined;
    const additionals = message.readUInt16BE(10);
    if (additionals > 1) return undefined;
    let at = HEADER_SIZE;
    for (let length = message[at]!; length !== 0; length = message[at]!) {
      if (length > 63 || at + 1 + length >= message.length) return undefined;
      for (let i = at + 1; i <= at + length; i++) {
        const c = message[i]!;
        if (c <= 0x20 || c >= 0x7f || c === 0x2e || c === 0x5c) return undefined; // printable, no '.' or '\' inside a label
      }
      at += 1 + length;
    }
    const questionEnd = at + 1 + 4;
    if (questionEnd > message.length) return undefined;
    const question = message.toString('latin1', HEADER_SIZE, questionEnd - 4).toLowerCase();
    const typeAndClass = message.readUInt32BE(questionEnd - 4);
    if (additionals === 0) {
      if (questionEnd !== message.length) return undefined;
      return { key: `${question} ${typeAndClass} -`, questionEnd, udpLimit: CLASSIC_UDP_SIZE };
    }
    // The OPT: root owner, type 41, UDP size, extended rcode, version 0, flags, options (ignored), nothing after.
    const opt = questionEnd;
    if (opt + 11 > message.length || message[opt] !== 0 || message.readUInt16BE(opt + 1) !== TYPE_OPT || message[opt + 6] !== 0) return undefined;
    if (opt + 11 + message.readUInt16BE(opt + 9) !== message.length) return undefined;
    const flags = message.readUInt16BE(opt + 7);
    const udpLimit = Math.min(Math.max(message.readUInt16BE(opt + 3), CLASSIC_UDP_SIZE), this.advertisedUdpSize);
    return { key: `${question} ${typeAndClass} ${flags & EDNS_DO ? 'd' : ''}${flags & EDNS_CO ? 'c' : ''}`, questionEnd, udpLimit };
  }
}
