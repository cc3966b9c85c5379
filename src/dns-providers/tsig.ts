// TSIG (RFC 8945) with HMAC-SHA256: signing a DNS message and checking the signature on the server's answer.
// dns-packet has no TSIG codec, so the record and the MAC input (the message, then the "TSIG variables") are built
// here byte by byte, from the RFC's layout.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { nameToWire } from '../dns/wire.ts';

export const TSIG_TYPE = 250;
const CLASS_ANY = 255;
const ALGORITHM = 'hmac-sha256';
const MAC_LENGTH = 32;
/** Seconds the two clocks may differ (RFC 8945 §10 recommends 300). */
export const FUDGE = 300;

/** TSIG error codes (RFC 8945 §4.3, RFC 2845, RFC 4635). */
const TSIG_ERRORS: Readonly<Record<number, string>> = { 16: 'BADSIG', 17: 'BADKEY', 18: 'BADTIME', 22: 'BADTRUNC' };
export const tsigErrorName = (code: number): string => TSIG_ERRORS[code] ?? `TSIG error ${code}`;

export interface TsigKey {
  /** The key's name as the server knows it (tsig-keygen's `key "<name>"`). */
  readonly name: string;
  readonly secret: Buffer;
}

/** The fields of a TSIG record (RFC 8945 §4.2). */
export interface TsigRecord {
  readonly keyName: string;
  readonly algorithm: string;
  readonly timeSigned: number;
  readonly fudge: number;
  readonly mac: Buffer;
  readonly originalId: number;
  readonly error: number;
  readonly otherData: Buffer;
}

const u16 = (value: number) => {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value);
  return out;
};
const u48 = (value: number) => {
  const out = Buffer.alloc(6);
  out.writeUIntBE(value, 0, 6);
  return out;
};
const canonical = (name: string) => nameToWire(name.toLowerCase());

/** The TSIG variables of RFC 8945 §4.3.3, in their MAC-input order. */
function variables(key: TsigKey, record: Pick<TsigRecord, 'timeSigned' | 'fudge' | 'error' | 'otherData'>): Buffer {
  const classAndTtl = Buffer.alloc(6);
  classAndTtl.writeUInt16BE(CLASS_ANY, 0);
  return Buffer.concat([canonical(key.name), classAndTtl, canonical(ALGORITHM), u48(record.timeSigned), u16(record.fudge), u16(record.error), u16(record.otherData.length), record.otherData]);
}

const hmac = (key: TsigKey, ...parts: Buffer[]) => parts.reduce((mac, part) => mac.update(part), createHmac('sha256', key.secret)).digest();

/**
 * `message` with a TSIG record appended (ARCOUNT raised by one), and its MAC, which the answer's MAC covers.
 * `timeSigned` is seconds since the epoch.
 */
export function signMessage(message: Buffer, key: TsigKey, timeSigned: number): { signed: Buffer; mac: Buffer } {
  const fields = { timeSigned, fudge: FUDGE, error: 0, otherData: Buffer.alloc(0) };
  const mac = hmac(key, message, variables(key, fields));
  const originalId = message.readUInt16BE(0);
  const rdata = Buffer.concat([canonical(ALGORITHM), u48(timeSigned), u16(FUDGE), u16(mac.length), mac, u16(originalId), u16(0), u16(0)]);
  const head = Buffer.alloc(10);
  head.writeUInt16BE(TSIG_TYPE, 0);
  head.writeUInt16BE(CLASS_ANY, 2);
  head.writeUInt32BE(0, 4);
  head.writeUInt16BE(rdata.length, 8);
  const signed = Buffer.concat([message, canonical(key.name), head, rdata]);
  signed.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { signed, mac };
}

// ---- Reading a TSIG record off an answer -------------------------------------------------------------------------

/** The end of the (possibly compressed) name at `offset`. */
function skipName(message: Buffer, offset: number): number {
  let at = offset;
  for (;;) {
    const length = message[at];
    if (length === undefined) throw new Error('a name runs past the end of the message');
    if (length === 0) return at + 1;
    if ((length & 0xc0) === 0xc0) return at + 2;
    at += 1 + length;
  }
}

/** A name's text at `offset`, following compression pointers (a bounded number of them). */
function readName(message: Buffer, offset: number): string {
  const labels: string[] = [];
  let at = offset;
  for (let jumps = 0; jumps < 64; ) {
    const length = message[at];
    if (length === undefined) break;
    if (length === 0) return labels.join('.');
    if ((length & 0xc0) === 0xc0) {
      at = ((length & 0x3f) << 8) | (message[at + 1] ?? 0);
      jumps += 1;
      continue;
    }
    labels.push(message.toString('latin1', at + 1, at + 1 + length));
    at += 1 + length;
  }
  throw new Error('a name that does not end inside the message');
}

/** Where the last additional record starts, or undefined when the message has none. */
function lastRecordOffset(message: Buffer): number | undefined {
  if (message.length < 12) throw new Error('shorter than a DNS header');
  const counts = [4, 6, 8, 10].map((at) => message.readUInt16BE(at)) as [number, number, number, number];
  let at = 12;
  for (let i = 0; i < counts[0]; i += 1) at = skipName(message, at) + 4;
  const records = counts[1] + counts[2] + counts[3];
  if (counts[3] === 0) return undefined;
  for (let i = 0; i < records - 1; i += 1) {
    at = skipName(message, at);
    at += 10 + message.readUInt16BE(at + 8);
  }
  return at;
}

/** The answer's TSIG record and the offset it starts at, or undefined when the answer is not signed. */
export function readTsig(message: Buffer): { record: TsigRecord; offset: number } | undefined {
  const offset = lastRecordOffset(message);
  if (offset === undefined) return undefined;
  const typeAt = skipName(message, offset);
  if (message.readUInt16BE(typeAt) !== TSIG_TYPE) return undefined;
  let at = typeAt + 10;
  const algorithm = readName(message, at);
  at = skipName(message, at);
  const timeSigned = message.readUIntBE(at, 6);
  const fudge = message.readUInt16BE(at + 6);
  const macLength = message.readUInt16BE(at + 8);
  const mac = message.subarray(at + 10, at + 10 + macLength);
  at += 10 + macLength;
  const originalId = message.readUInt16BE(at);
  const error = message.readUInt16BE(at + 2);
  const otherLength = message.readUInt16BE(at + 4);
  const otherData = message.subarray(at + 6, at + 6 + otherLength);
  if (at + 6 + otherLength > message.length) throw new Error('a TSIG record that runs past the end of the message');
  return { record: { keyName: readName(message, offset).toLowerCase(), algorithm: algorithm.toLowerCase(), timeSigned, fudge, mac, originalId, error, otherData }, offset };
}

/**
 * Why a signed answer's TSIG does not hold (wrong key or algorithm, a MAC that does not verify against the request's,
 * a time outside the fudge), or undefined when it does. `now` is seconds since the epoch.
 */
export function answerSignatureProblem(answer: Buffer, tsig: { record: TsigRecord; offset: number }, key: TsigKey, requestMac: Buffer, now: number): string | undefined {
  const { record, offset } = tsig;
  if (record.keyName !== key.name.toLowerCase().replace(/\.$/, '') || record.algorithm !== ALGORITHM) return `signed with ${record.keyName}/${record.algorithm}, not the update's key`;
  if (record.mac.length !== MAC_LENGTH) return `a MAC of ${record.mac.length} bytes, not ${MAC_LENGTH}`;
  // The answer as it was signed: without its TSIG record, ARCOUNT one less, the original ID in the header.
  const unsigned = Buffer.from(answer.subarray(0, offset));
  unsigned.writeUInt16BE(record.originalId, 0);
  unsigned.writeUInt16BE(unsigned.readUInt16BE(10) - 1, 10);
  const expected = hmac(key, u16(requestMac.length), requestMac, unsigned, variables(key, record));
  if (!timingSafeEqual(expected, record.mac)) return 'a MAC that does not verify';
  if (Math.abs(now - record.timeSigned) > record.fudge) return `signed at ${record.timeSigned}, outside ${record.fudge} s of this clock (${now})`;
  return undefined;
}
