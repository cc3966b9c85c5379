import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, decodeLeaf, encodeLeaf, LeafError, type LogEvent } from '../../src/tlog/leaf.ts';

const EVENT: LogEvent = {
  event_type: 'agent.revoked',
  agent_name: 'billing.agents.example.com',
  cert_fingerprint: 'sha256:ab12',
  cert_serial: '0a1b',
  status: 'revoked',
  reason: 'key "compromise"\\\u001f\n\u007f caf\u00e9 \u20ac \ud83d\ude00 \u2028',
  timestamp: '2025-01-02T03:04:05.678Z',
  actor: 'admin',
};

// Written out by hand from RFC 8785: members sorted, no whitespace, \" \\ \n escaped short, other controls
// as lowercase \u00xx, DEL and everything non-ASCII (U+2028 included) as they are.
const CANONICAL =
  '{"actor":"admin","agent_name":"billing.agents.example.com","cert_fingerprint":"sha256:ab12","cert_serial":"0a1b",' +
  '"event_type":"agent.revoked","reason":"key \\"compromise\\"\\\\\\u001f\\n\u007f caf\u00e9 \u20ac \ud83d\ude00 \u2028",' +
  '"status":"revoked","timestamp":"2025-01-02T03:04:05.678Z"}';

const utf8 = (text: string) => new TextEncoder().encode(text);

describe('leaf encoding', () => {
  it('is RFC 8785 canonical JSON', () => {
    expect(new TextDecoder().decode(encodeLeaf(EVENT))).toBe(CANONICAL);
    expect(Buffer.from(encodeLeaf(EVENT))).toEqual(Buffer.from(CANONICAL, 'utf8'));
  });

  it('does not depend on the order the fields were set in', () => {
    const reversed = Object.fromEntries(Object.entries(EVENT).reverse()) as unknown as LogEvent;
    expect(Buffer.from(encodeLeaf(reversed))).toEqual(Buffer.from(encodeLeaf(EVENT)));
  });

  it('escapes every control character the JCS way', () => {
    const all = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('');
    const short: Record<number, string> = { 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r' };
    const expected = Array.from({ length: 32 }, (_, i) => short[i] ?? `\\u${i.toString(16).padStart(4, '0')}`).join('');
    const text = new TextDecoder().decode(encodeLeaf({ ...EVENT, reason: all }));
    expect(text).toContain(`"reason":"${expected}"`);
    expect(expected).toContain('\\u001f');
  });

  it('sorts member names by UTF-16 code units, not code points', () => {
    // U+1F600 is the surrogate pair D83D DE00, which sorts before U+FB33 in UTF-16 though after it in code points.
    const object = { '\ufb33': 'dalet', '\ud83d\ude00': 'grin', '\u00f6': 'o', '1': 'one', '\r': 'cr', '\u0080': 'ctl', '\u20ac': 'euro' };
    expect(canonicalJson(object)).toBe(
      '{"\\r":"cr","1":"one","\u0080":"ctl","\u00f6":"o","\u20ac":"euro","\ud83d\ude00":"grin","\ufb33":"dalet"}',
    );
  });

  it('writes integers in their shortest form and refuses other numbers', () => {
    expect(canonicalJson({ b: -0, a: 10, c: Number.MAX_SAFE_INTEGER })).toBe('{"a":10,"b":0,"c":9007199254740991}');
    expect(() => canonicalJson({ a: 1.5 })).toThrow(RangeError);
    expect(() => canonicalJson({ a: 2 ** 53 })).toThrow(RangeError);
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(RangeError);
  });

  it('round-trips any event', () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 });
    const timestamp = fc
      .date({ min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true })
      .map((date) => date.toISOString());
    const event = fc.record({
      event_type: text,
      agent_name: text,
      cert_fingerprint: text,
      cert_serial: text,
      status: text,
      reason: text,
      timestamp,
      actor: text,
    });
    fc.assert(
      fc.property(event, (e) => {
        const data = encodeLeaf(e);
        expect(decodeLeaf(data)).toEqual(e);
        expect(JSON.parse(new TextDecoder().decode(data))).toEqual(e);
      }),
    );
  });

  it('refuses events it could not decode again', () => {
    expect(() => encodeLeaf({ ...EVENT, timestamp: '2025-01-02T03:04:05Z' })).toThrow(RangeError);
    expect(() => encodeLeaf({ ...EVENT, timestamp: '2025-02-30T03:04:05.678Z' })).toThrow(RangeError);
    expect(() => encodeLeaf({ ...EVENT, reason: 'half \ud800 pair' })).toThrow(RangeError);
    expect(() => encodeLeaf({ ...EVENT, reason: 'x'.repeat(70_000) })).toThrow(/over 65535/);
    expect(() => encodeLeaf({ ...EVENT, extra: 'x' } as LogEvent)).toThrow(/exactly the fields/);
    expect(() => encodeLeaf({ ...EVENT, status: 1 } as unknown as LogEvent)).toThrow(/status must be a string/);
  });
});

describe('leaf decoding', () => {
  const swap = (from: string, to: string) => {
    expect(CANONICAL).toContain(from);
    return utf8(CANONICAL.replace(from, to));
  };

  it.each([
    ['whitespace after a colon', swap('"actor":', '"actor": ')],
    ['whitespace around the object', utf8(` ${CANONICAL}\n`)],
    ['members out of order', utf8(CANONICAL.replace('"actor":"admin",', '').replace('}', ',"actor":"admin"}'))],
    ['an escaped letter', swap('"admin"', '"\\u0061dmin"')],
    ['an upper-case hex escape', swap('\\u001f', '\\u001F')],
    ['an escaped slash', swap('sha256:ab12', 'sha256\\/ab12')],
    ['an escaped non-ASCII character', swap('caf\u00e9', 'caf\\u00e9')],
    ['a raw control character', swap('\\u001f', '\u001f')],
    ['a duplicated member', utf8(CANONICAL.replace('{', '{"actor":"admin",'))],
    ['a missing member', utf8(CANONICAL.replace('"actor":"admin",', ''))],
    ['an extra member', utf8(CANONICAL.replace('{', '{"a":"b",'))],
    ['a number for a string', swap('"cert_serial":"0a1b"', '"cert_serial":10')],
    ['a timestamp without milliseconds', swap('05.678Z', '05Z')],
    ['a timestamp with an offset', swap('05.678Z', '05.678+00:00')],
    ['an escaped unpaired surrogate', swap('caf\u00e9', 'caf\\ud800')],
    ['a byte order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8(CANONICAL)])],
    ['invalid UTF-8', Buffer.concat([utf8(CANONICAL.slice(0, 20)), Buffer.from([0xc3, 0x28]), utf8(CANONICAL.slice(20))])],
    ['an array', utf8(`[${CANONICAL}]`)],
    ['null', utf8('null')],
    ['nothing', new Uint8Array()],
  ])('refuses %s', (_, data) => {
    expect(() => decodeLeaf(data)).toThrow(LeafError);
  });

  it('accepts the canonical bytes', () => {
    expect(decodeLeaf(utf8(CANONICAL))).toEqual(EVENT);
  });
});
