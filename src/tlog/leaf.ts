// The log's leaf: one LogEvent as RFC 8785 (JCS) canonical JSON. A leaf is hashed and signed over, so it
// must have one byte form that anyone can rebuild from the event, in any language with a JCS library.
// LogEvent is a flat object of strings, so a small serializer covers JCS exactly; no dependency needed.

export interface LogEvent {
  event_type: string;
  agent_name: string;
  cert_fingerprint: string;
  cert_serial: string;
  status: string;
  reason: string;
  /** RFC 3339 UTC with milliseconds, as Date.prototype.toISOString writes it. */
  timestamp: string;
  actor: string;
}

/** Stored bytes that are not the canonical encoding of a LogEvent. */
export class LeafError extends Error {
  override readonly name = 'LeafError';
}

const FIELDS = [
  'actor',
  'agent_name',
  'cert_fingerprint',
  'cert_serial',
  'event_type',
  'reason',
  'status',
  'timestamp',
] as const satisfies readonly (keyof LogEvent)[];

// tlog-tiles entry bundles prefix each entry with a uint16 length.
export const MAX_LEAF_SIZE = 0xffff;

const UNPAIRED_SURROGATE = /\p{Cs}/u;
const TIMESTAMP = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$/;

export function encodeLeaf(event: LogEvent): Uint8Array {
  const problem = brokenEventRule(event);
  if (problem) throw new RangeError(`log event: ${problem}`);
  const data = new TextEncoder().encode(canonicalJson(pick(event)));
  if (data.length > MAX_LEAF_SIZE) throw new RangeError(`log event: encodes to ${data.length} bytes, over ${MAX_LEAF_SIZE}`);
  return data;
}

/** The event in a leaf; only the exact bytes encodeLeaf writes are accepted. */
export function decodeLeaf(data: Uint8Array): LogEvent {
  if (data.length > MAX_LEAF_SIZE) throw new LeafError(`leaf is over ${MAX_LEAF_SIZE} bytes`);
  let value: unknown;
  try {
    // ignoreBOM keeps a byte order mark in the text, where it makes the bytes non-canonical.
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(data));
  } catch {
    throw new LeafError('leaf is not UTF-8 JSON');
  }
  const problem = brokenEventRule(value);
  if (problem) throw new LeafError(`leaf: ${problem}`);
  const event = value as LogEvent;
  if (!Buffer.from(encodeLeaf(event)).equals(data)) throw new LeafError('leaf is not in RFC 8785 canonical form');
  return event;
}

/** What is wrong with a would-be LogEvent, or undefined. */
function brokenEventRule(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be an object';
  const keys = Object.keys(value);
  const fields: readonly string[] = FIELDS;
  if (keys.length !== FIELDS.length || !keys.every((key) => fields.includes(key))) {
    return `must have exactly the fields ${FIELDS.join(', ')}`;
  }
  const record = value as Record<string, unknown>;
  const nonString = FIELDS.find((field) => typeof record[field] !== 'string');
  if (nonString) return `${nonString} must be a string`;
  const malformed = FIELDS.find((field) => UNPAIRED_SURROGATE.test(record[field] as string));
  // I-JSON (RFC 7493), which JCS requires, has no unpaired surrogates, and UTF-8 cannot carry them.
  if (malformed) return `${malformed} must be well-formed Unicode`;
  const timestamp = record['timestamp'] as string;
  if (!TIMESTAMP.test(timestamp) || new Date(timestamp).toISOString() !== timestamp) {
    return `timestamp ${JSON.stringify(timestamp)} is not RFC 3339 UTC with milliseconds`;
  }
  return undefined;
}

/** Exactly the LogEvent fields, so a caller's extra properties never reach the log. */
function pick(event: LogEvent): Record<string, string> {
  return Object.fromEntries(FIELDS.map((field) => [field, event[field]]));
}

/**
 * RFC 8785 for a flat object of strings and integers: members sorted by the UTF-16 code units of their
 * names (what Array.prototype.sort compares), no whitespace, strings as ECMAScript's JSON.stringify writes
 * them (RFC 8785 §3.2.2.2 adopts exactly that escaping), integers in their shortest decimal form.
 */
export function canonicalJson(object: Readonly<Record<string, string | number>>): string {
  const members = Object.entries(object)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${canonicalString(name)}:${canonicalValue(value)}`);
  return `{${members.join(',')}}`;
}

function canonicalValue(value: string | number): string {
  if (typeof value === 'string') return canonicalString(value);
  if (!Number.isSafeInteger(value)) throw new RangeError(`JCS here takes integers below 2^53, not ${value}`);
  return String(value);
}

function canonicalString(text: string): string {
  if (UNPAIRED_SURROGATE.test(text)) throw new RangeError('a string with an unpaired surrogate has no canonical JSON form');
  return JSON.stringify(text);
}
