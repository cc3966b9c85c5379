// RRsets in DNS wire form: the provider-neutral record data of rrset.ts to dns-packet answers and back. dns-packet
// encodes TXT, TLSA and SRV; SVCB (type 64) it does not know, so its RFC 9460 rdata is built here and handed to
// dns-packet as an unknown type's raw rdata (which dns-packet copies verbatim). Names are never compressed.
import dnsPacket from 'dns-packet';
import { isIPv4 } from 'node:net';
import type { PublishedType, RecordData, RRset, SrvData, SvcbData, SvcParam, TlsaData, TxtData } from './rrset.ts';

/** The SVCB type code (RFC 9460); dns-packet names types it does not know `UNKNOWN_<code>`. */
export const SVCB_TYPE = 64;
const SVCB_PACKET_TYPE = `UNKNOWN_${SVCB_TYPE}`;

/** An answer of a type dns-packet has no codec for: its rdata as bytes. */
export interface RawAnswer {
  readonly type: string;
  readonly name: string;
  readonly ttl: number;
  readonly class: 'IN';
  readonly data: Buffer;
}

/**
 * dns-packet encodes any `UNKNOWN_<code>` type by copying a Buffer of rdata, but its type declarations list only
 * the types it knows; this is the one place that crosses that gap.
 */
export function rawAnswer(name: string, typeCode: number, ttl: number, rdata: Buffer): dnsPacket.Answer {
  const answer: RawAnswer = { type: `UNKNOWN_${typeCode}`, name, ttl, class: 'IN', data: rdata };
  return answer as unknown as dnsPacket.Answer;
}

/** The answers (one per record) that put `rrset` on the wire. Throws a clear error for data DNS cannot carry. */
export function toPacketAnswers(rrset: RRset): dnsPacket.Answer[] {
  return rrset.records.map((record) => toPacketAnswer(rrset.name, rrset.type, rrset.ttl, record));
}

function toPacketAnswer(name: string, type: PublishedType, ttl: number, record: RecordData): dnsPacket.Answer {
  switch (type) {
    case 'TXT':
      return { type: 'TXT', name, ttl, class: 'IN', data: txtStrings(record as TxtData) };
    case 'TLSA': {
      const tlsa = record as TlsaData;
      return { type: 'TLSA', name, ttl, class: 'IN', data: { usage: octet(tlsa.usage, 'TLSA usage'), selector: octet(tlsa.selector, 'TLSA selector'), matchingType: octet(tlsa.matchingType, 'TLSA matching type'), certificate: hexBytes(tlsa.data, 'TLSA data') } };
    }
    case 'SRV': {
      const srv = record as SrvData;
      return { type: 'SRV', name, ttl, class: 'IN', data: { priority: u16(srv.priority, 'SRV priority'), weight: u16(srv.weight, 'SRV weight'), port: u16(srv.port, 'SRV port'), target: srv.target } };
    }
    case 'SVCB':
      return rawAnswer(name, SVCB_TYPE, ttl, encodeSvcb(record as SvcbData));
  }
}

function txtStrings(txt: TxtData): Buffer[] {
  if (txt.strings.length === 0) throw new Error('TXT record: needs at least one character-string');
  return txt.strings.map((s) => {
    const bytes = Buffer.from(s, 'utf8');
    if (bytes.length > 255) throw new Error(`TXT record: a character-string is at most 255 bytes (RFC 1035), not ${bytes.length}`);
    return bytes;
  });
}

/** An RRset as decoded answers show it: the records of each name and type, grouped, with the first TTL seen. */
export function fromPacketAnswers(answers: readonly dnsPacket.Answer[]): RRset[] {
  const sets = new Map<string, { name: string; type: PublishedType; ttl: number; records: RecordData[] }>();
  for (const answer of answers) {
    const decoded = fromPacketAnswer(answer);
    if (decoded === undefined) continue;
    const name = answer.name.toLowerCase();
    const key = `${name} ${decoded.type}`;
    const set = sets.get(key) ?? { name, type: decoded.type, ttl: 'ttl' in answer ? (answer.ttl ?? 0) : 0, records: [] };
    set.records.push(decoded.data);
    sets.set(key, set);
  }
  return [...sets.values()];
}

/** One decoded answer's record data, or undefined for a type agents do not get (SOA, RRSIG, ...). */
export function fromPacketAnswer(answer: dnsPacket.Answer): { type: PublishedType; data: RecordData } | undefined {
  switch (answer.type) {
    case 'TXT': {
      const parts = Array.isArray(answer.data) ? answer.data : [answer.data];
      return { type: 'TXT', data: { strings: parts.map((p) => (typeof p === 'string' ? p : p.toString('utf8'))) } };
    }
    case 'TLSA':
      return { type: 'TLSA', data: { usage: answer.data.usage, selector: answer.data.selector, matchingType: answer.data.matchingType, data: answer.data.certificate.toString('hex') } };
    case 'SRV':
      return { type: 'SRV', data: { priority: answer.data.priority ?? 0, weight: answer.data.weight ?? 0, port: answer.data.port, target: answer.data.target === '.' ? '' : answer.data.target.toLowerCase() } };
  }
  const raw = answer as unknown as RawAnswer;
  if (raw.type === SVCB_PACKET_TYPE && Buffer.isBuffer(raw.data)) return { type: 'SVCB', data: decodeSvcb(raw.data) };
  return undefined;
}

// --- SVCB (RFC 9460 section 2.2): SvcPriority, TargetName (uncompressed), SvcParams in strictly ascending key order.

/** The registered SvcParamKeys (RFC 9460 section 14.3.2, RFC 9461 dohpath, RFC 9540 ohttp). */
const SVC_KEYS: Readonly<Record<string, number>> = {
  mandatory: 0,
  alpn: 1,
  'no-default-alpn': 2,
  port: 3,
  ipv4hint: 4,
  ech: 5,
  ipv6hint: 6,
  dohpath: 7,
  ohttp: 8,
};
const SVC_KEY_NAMES = new Map(Object.entries(SVC_KEYS).map(([name, code]) => [code, name]));

/** A SvcParamKey's number: a registered name or keyNNNNN (RFC 9460 section 2.1). */
export function svcKeyCode(key: string): number {
  const registered = SVC_KEYS[key];
  if (registered !== undefined) return registered;
  const generic = /^key(\d{1,5})$/.exec(key);
  const code = generic === null ? NaN : Number(generic[1]);
  if (!Number.isInteger(code) || code > 65534) throw new Error(`SVCB param ${JSON.stringify(key)}: not a registered key name nor keyNNNNN with NNNNN < 65535 (RFC 9460 section 2.1)`);
  return code;
}

const svcKeyName = (code: number): string => SVC_KEY_NAMES.get(code) ?? `key${code}`;

/** The RFC 9460 rdata of one SVCB record. */
export function encodeSvcb(svcb: SvcbData): Buffer {
  const params = svcb.params.map((p) => ({ code: svcKeyCode(p.key), value: encodeSvcValue(p) }));
  params.sort((a, b) => a.code - b.code);
  for (let i = 1; i < params.length; i++) {
    if (params[i]!.code === params[i - 1]!.code) throw new Error(`SVCB param ${svcKeyName(params[i]!.code)}: appears twice (RFC 9460 section 2.2)`);
  }
  checkMandatory(svcb.params, new Set(params.map((p) => p.code)));
  const head = Buffer.alloc(2);
  head.writeUInt16BE(u16(svcb.priority, 'SVCB priority'));
  const parts = [head, nameToWire(svcb.target)];
  for (const { code, value } of params) {
    const tl = Buffer.alloc(4);
    tl.writeUInt16BE(code, 0);
    tl.writeUInt16BE(value.length, 2);
    parts.push(tl, value);
  }
  return Buffer.concat(parts);
}

/** RFC 9460 section 8: every key that mandatory lists is present, and mandatory does not list itself. */
function checkMandatory(params: readonly SvcParam[], present: ReadonlySet<number>): void {
  const mandatory = params.find((p) => p.key === 'mandatory');
  if (mandatory === undefined) return;
  for (const key of splitValueList(mandatory.value)) {
    const code = svcKeyCode(key);
    if (code === 0) throw new Error('SVCB param mandatory: must not list mandatory itself (RFC 9460 section 8)');
    if (!present.has(code)) throw new Error(`SVCB param mandatory: lists ${key}, which the record does not carry (RFC 9460 section 8)`);
  }
}

function encodeSvcValue(param: SvcParam): Buffer {
  const what = `SVCB param ${param.key}`;
  switch (svcKeyCode(param.key)) {
    case 0: {
      const codes = splitValueList(param.value).map(svcKeyCode).sort((a, b) => a - b);
      const out = Buffer.alloc(codes.length * 2);
      codes.forEach((code, i) => out.writeUInt16BE(code, i * 2));
      return out;
    }
    case 1:
      return Buffer.concat(
        splitValueList(param.value).map((id) => {
          const bytes = Buffer.from(id, 'utf8');
          if (bytes.length === 0 || bytes.length > 255) throw new Error(`${what}: each alpn-id is 1 to 255 bytes`);
          return Buffer.concat([Buffer.from([bytes.length]), bytes]);
        }),
      );
    case 2:
    case 8:
      if (param.value !== '') throw new Error(`${what}: takes no value`);
      return Buffer.alloc(0);
    case 3: {
      const port = Buffer.alloc(2);
      port.writeUInt16BE(u16(decimal(param.value, what), what));
      return port;
    }
    case 4:
      return Buffer.concat(splitValueList(param.value).map((ip) => ipv4Bytes(ip, what)));
    case 5: {
      const bytes = Buffer.from(param.value, 'base64');
      if (bytes.toString('base64') !== param.value) throw new Error(`${what}: must be base64 (RFC 4648)`);
      return bytes;
    }
    case 6:
      return Buffer.concat(splitValueList(param.value).map((ip) => ipv6Bytes(ip, what)));
    default:
      // dohpath and keyNNNNN: the presentation value's bytes.
      return Buffer.from(param.value, 'utf8');
  }
}

/** The SVCB record whose rdata is `rdata`; throws on rdata that does not follow RFC 9460. */
export function decodeSvcb(rdata: Buffer): SvcbData {
  if (rdata.length < 3) throw new Error('SVCB rdata: shorter than a priority and a target');
  const priority = rdata.readUInt16BE(0);
  const { name: target, end } = nameFromWire(rdata, 2);
  let offset = end;
  const params: SvcParam[] = [];
  let previous = -1;
  while (offset < rdata.length) {
    if (offset + 4 > rdata.length) throw new Error('SVCB rdata: a SvcParam is cut short');
    const code = rdata.readUInt16BE(offset);
    const length = rdata.readUInt16BE(offset + 2);
    if (code <= previous) throw new Error('SVCB rdata: SvcParam keys are not in strictly ascending order (RFC 9460 section 2.2)');
    if (offset + 4 + length > rdata.length) throw new Error('SVCB rdata: a SvcParam value runs past the rdata');
    params.push({ key: svcKeyName(code), value: decodeSvcValue(code, rdata.subarray(offset + 4, offset + 4 + length)) });
    previous = code;
    offset += 4 + length;
  }
  return { priority, target: target.toLowerCase(), params };
}

/** A name's uncompressed wire form (RFC 1035 section 3.1); '' and '.' are the root. */
export function nameToWire(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter((label, i, all) => !(all.length === 1 && label === ''));
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, 'utf8');
    if (bytes.length === 0 || bytes.length > 63) throw new Error(`DNS name ${JSON.stringify(name)}: each label is 1 to 63 bytes (RFC 1035)`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const wire = Buffer.concat(parts);
  if (wire.length > 255) throw new Error(`DNS name ${JSON.stringify(name)}: longer than 255 bytes on the wire (RFC 1035)`);
  return wire;
}

/** An uncompressed name at `offset` (RFC 9460 forbids compressing SVCB's TargetName): its text, '' for the root. */
function nameFromWire(buf: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let at = offset;
  for (;;) {
    const length = buf[at];
    if (length === undefined) throw new Error('DNS name: runs past the end of its data');
    if (length === 0) break;
    if (length > 63) throw new Error('DNS name: a compressed or extended label where an uncompressed name belongs');
    if (at + 1 + length > buf.length) throw new Error('DNS name: a label runs past the end of its data');
    labels.push(buf.toString('utf8', at + 1, at + 1 + length));
    at += 1 + length;
  }
  return { name: labels.join('.'), end: at + 1 };
}

function decodeSvcValue(code: number, value: Buffer): string {
  const chunks = (size: number): Buffer[] => {
    if (value.length % size !== 0) throw new Error(`SVCB rdata: ${svcKeyName(code)} is not a list of ${size}-byte items`);
    return Array.from({ length: value.length / size }, (_, i) => value.subarray(i * size, (i + 1) * size));
  };
  switch (code) {
    case 0:
      return chunks(2).map((c) => svcKeyName(c.readUInt16BE(0))).join(',');
    case 1: {
      const ids: string[] = [];
      for (let i = 0; i < value.length; i += 1 + value[i]!) {
        if (i + 1 + value[i]! > value.length) throw new Error('SVCB rdata: an alpn-id runs past its value');
        ids.push(value.toString('utf8', i + 1, i + 1 + value[i]!).replace(/[\\,]/g, (c) => `\\${c}`));
      }
      return ids.join(',');
    }
    case 3:
      if (value.length !== 2) throw new Error('SVCB rdata: port is not 2 bytes');
      return String(value.readUInt16BE(0));
    case 4:
      return chunks(4).map((c) => [...c].join('.')).join(',');
    case 5:
      return value.toString('base64');
    case 6:
      return chunks(16).map(ipv6Text).join(',');
    default:
      return value.toString('utf8');
  }
}

/** RFC 9460 appendix A.1 value-list: items split at commas, `\,` and `\\` escaping a literal one. */
function splitValueList(value: string): string[] {
  const items: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) current += value[++i];
    else if (c === ',') {
      items.push(current);
      current = '';
    } else current += c;
  }
  items.push(current);
  if (items.some((item) => item === '')) throw new Error(`SVCB value list ${JSON.stringify(value)}: has an empty item`);
  return items;
}

function ipv4Bytes(ip: string, what: string): Buffer {
  if (!isIPv4(ip)) throw new Error(`${what}: ${JSON.stringify(ip)} is not an IPv4 address`);
  return Buffer.from(ip.split('.').map(Number));
}

/** An IPv6 address's 16 bytes: groups around at most one `::`, an IPv4 tail allowed (RFC 4291 section 2.2). */
function ipv6Bytes(ip: string, what: string): Buffer {
  const bad = () => new Error(`${what}: ${JSON.stringify(ip)} is not an IPv6 address`);
  const halves = ip.split('::');
  if (halves.length > 2) throw bad();
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const words: number[] = [];
    const pieces = part.split(':');
    pieces.forEach((piece, i) => {
      if (i === pieces.length - 1 && isIPv4(piece)) {
        const [a, b, c, d] = piece.split('.').map(Number) as [number, number, number, number];
        words.push((a << 8) | b, (c << 8) | d);
      } else if (/^[0-9a-f]{1,4}$/i.test(piece)) words.push(parseInt(piece, 16));
      else throw bad();
    });
    return words;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) throw bad();
  const words = [...head, ...Array<number>(missing).fill(0), ...tail];
  const out = Buffer.alloc(16);
  words.forEach((word, i) => out.writeUInt16BE(word, i * 2));
  return out;
}

/** RFC 5952 text: lowercase, the longest run (two or more) of zero groups as `::`. */
function ipv6Text(bytes: Buffer): string {
  const words = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

function decimal(text: string, what: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new Error(`${what}: must be a decimal number`);
  return Number(text);
}

function u16(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${what}: must be an integer from 0 to 65535, not ${n}`);
  return n;
}

function octet(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new Error(`${what}: must be an integer from 0 to 255, not ${n}`);
  return n;
}

function hexBytes(hex: string, what: string): Buffer {
  if (!/^(?:[0-9a-f]{2})*$/i.test(hex)) throw new Error(`${what}: must be hex digits in pairs`);
  return Buffer.from(hex, 'hex');
}
