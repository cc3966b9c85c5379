// DER primitives for the structures built on hot paths (leaf certificates, CRL entries). @peculiar/x509 spends
// ~100 µs of ASN.1 object work per tiny structure (~2.5 ms per certificate, 7 s for a 10k-entry CRL, all
// blocking the event loop); writing the few fixed shapes we need as bytes takes microseconds.

export const Tag = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  enumerated: 0x0a,
  utf8String: 0x0c,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

/** One DER element: tag, length and the concatenated content. */
function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  return tlvOf(tag, content);
}

function tlvOf(tag: number, content: readonly Uint8Array[]): Buffer {
  const body = content.length === 1 && content[0] ? content[0] : Buffer.concat(content);
  return Buffer.concat([Uint8Array.of(tag), encodeLength(body.length), body]);
}

function encodeLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export const sequence = (...content: Uint8Array[]): Buffer => tlv(Tag.sequence, ...content);
/** SEQUENCE OF, for lists too long to spread into arguments. */
export const sequenceOf = (items: readonly Uint8Array[]): Buffer => tlvOf(Tag.sequence, items);
export const set = (...content: Uint8Array[]): Buffer => tlv(Tag.set, ...content);
export const octetString = (content: Uint8Array): Buffer => tlv(Tag.octetString, content);
export const bitString = (content: Uint8Array): Buffer => tlv(Tag.bitString, Uint8Array.of(0), content);
export const utf8String = (text: string): Buffer => tlv(Tag.utf8String, Buffer.from(text, 'utf8'));
export const booleanTrue: Buffer = tlv(Tag.boolean, Uint8Array.of(0xff));
/** [n] EXPLICIT, wrapping a complete element. */
export const explicit = (n: number, ...content: Uint8Array[]): Buffer => tlv(0xa0 | n, ...content);
/** [n] IMPLICIT on a primitive type (the GeneralName choices). */
export const implicitPrimitive = (n: number, content: Uint8Array): Buffer => tlv(0x80 | n, content);

/** A non-negative INTEGER from its big-endian magnitude, minimally encoded. */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.length === 0 ? Uint8Array.of(0) : magnitude.subarray(start);
  // A set high bit would read as negative: prefix a zero byte.
  return (trimmed[0] ?? 0) & 0x80 ? tlv(Tag.integer, Uint8Array.of(0), trimmed) : tlv(Tag.integer, trimmed);
}

export function bigintInteger(value: bigint): Buffer {
  const hex = value.toString(16);
  return unsignedInteger(Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex'));
}

export const smallInteger = (value: number): Buffer => bigintInteger(BigInt(value));
export const enumerated = (value: number): Buffer => tlv(Tag.enumerated, Uint8Array.of(value));

export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((arc) => BigInt(arc));
  const [first = 0n, second = 0n, ...rest] = arcs;
  const bytes: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const group: number[] = [Number(arc & 0x7fn)];
    for (let value = arc >> 7n; value > 0n; value >>= 7n) group.unshift(Number(value & 0x7fn) | 0x80);
    bytes.push(...group);
  }
  return tlv(Tag.oid, Uint8Array.from(bytes));
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, whole seconds in UTC. */
export function time(date: Date): Buffer {
  // YYYY-MM-DDTHH:MM:SS.sssZ -> YYYYMMDDHHMMSSZ
  const digits = `${date.toISOString().slice(0, 19).replace(/[-T:]/g, '')}Z`;
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return tlv(Tag.utcTime, Buffer.from(digits.slice(2), 'ascii'));
  return tlv(Tag.generalizedTime, Buffer.from(digits, 'ascii'));
}

export interface Element {
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  readonly contentStart: number;
  /** Offset just after the content. */
  readonly end: number;
}

/** Reads the element at `offset`; throws on indefinite or overlong lengths and on truncation. */
export function readElement(der: Uint8Array, offset = 0): Element {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined) throw new Error('truncated DER element');
  if ((tag & 0x1f) === 0x1f) throw new Error('multi-byte DER tags are not supported');
  let length = first;
  let contentStart = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw new Error('unsupported DER length encoding');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[contentStart + i] ?? Number.NaN);
    contentStart += count;
    if (Number.isNaN(length)) throw new Error('truncated DER length');
  }
  const end = contentStart + length;
  if (end > der.length) throw new Error('DER element runs past the end of the input');
  return { tag, start: offset, contentStart, end };
}

/** The elements directly inside a constructed element. */
export function childrenOf(der: Uint8Array, parent: Element): Element[] {
  const children: Element[] = [];
  for (let offset = parent.contentStart; offset < parent.end; ) {
    const child = readElement(der, offset);
    if (child.end > parent.end) throw new Error('DER element runs past its parent');
    children.push(child);
    offset = child.end;
  }
  return children;
}
