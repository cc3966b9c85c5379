import fc from 'fast-check';

// Values an attacker or a broken client sends: each arbitrary mixes plain random input with the shapes that
// break parsers (control and format characters, look-alikes, SQL and path metacharacters, huge values, invalid
// Unicode) and with mutations of a valid value, so a run spends most of its time near the edges of the rules.

/** Just past the limits the API enforces: 64 KiB certificates/CSRs/tokens, 1 MiB requests. */
export const OVER_64_KIB = 64 * 1024 + 1;

const specialStrings = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\u0007\u001b[31mred',
  'tab\there',
  'line\nbreak',
  'cr\rlf',
  '\u00a0nbsp',
  'zero\u200bwidth',
  'pay\u200dpal',
  'rtl\u202eevil',
  '\ufeffbom',
  '\ud800',
  'lone\udfffsurrogate',
  '\u{1f600}',
  'раураl.example', // Cyrillic look-alikes
  'ｐａｙｐａｌ.example', // fullwidth
  'ΡΑΥΡΑΙ',
  'İstanbul',
  'ß',
  "' OR 1=1 --",
  '"; DROP TABLE agents; --',
  "%' OR '1'='1",
  '%',
  '_',
  '\\',
  '*',
  '$where',
  '{"$gt":""}',
  '../../etc/passwd',
  '%2e%2e%2f',
  'a/b',
  'a?b=c#d',
  'xn--',
  'xn--zz',
  'xn--abc',
  'xn--80ak6aa92e.com',
  'a.'.repeat(130),
  'a'.repeat(64),
  'a'.repeat(65),
  'a'.repeat(254),
  '-a',
  'a-',
  'A',
  '.',
  '..',
  'NaN',
  '-1',
  '1e309',
  'true',
  'null',
  '<script>alert(1)</script>',
  '${jndi:ldap://x}',
];

/**
 * One character of each kind that breaks text handling somewhere: NUL (PostgreSQL text), an unpaired surrogate
 * (UTF-8), controls, invisible and bidi formatting, look-alikes, whitespace, quotes, a PEM boundary.
 */
export const poison = ['\u0000', '\ud800', '\u0007', '\u001b', '\n', '\u200b', '\u202e', 'а', 'Ａ', '\u00a0', ' ', "'", '"', '\\', '%', '-----END X-----'];

/** Random text of every kind fast-check makes, plus the special strings, plus some very long ones. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...specialStrings) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom(OVER_64_KIB, 300_000).map((n) => 'a'.repeat(n)) },
);

/** A valid value with one character inserted, removed or replaced by a hostile one, or cut short. */
export function mutatedString(valid: string): fc.Arbitrary<string> {
  const at = fc.nat({ max: valid.length });
  const piece = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...poison) }, { weight: 1, arbitrary: fc.string({ maxLength: 3 }) });
  return fc.oneof(
    fc.tuple(at, piece).map(([i, p]) => valid.slice(0, i) + p + valid.slice(i)),
    fc.tuple(at, piece).map(([i, p]) => valid.slice(0, i) + p + valid.slice(i + 1)),
    at.map((i) => valid.slice(0, i)),
    fc.constant(valid.toUpperCase()),
    fc.constant(` ${valid}`),
    fc.constant(`${valid}\n`),
  );
}

/** A DER value nested `depth` SEQUENCEs deep: the classic ASN.1 stack bomb. */
export function derNestingBomb(depth: number): Buffer {
  let inner = Buffer.from([0x05, 0x00]);
  for (let i = 0; i < depth; i++) inner = Buffer.concat([Buffer.from([0x30, ...derLength(inner.length)]), inner]);
  return inner;
}

function derLength(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return [0x80 | bytes.length, ...bytes];
}

/** Bytes mutated the ways transport corruption and fuzzers do: bit flips, cuts, splices, duplication. */
export function mutatedBytes(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const at = fc.nat({ max: Math.max(0, valid.length - 1) });
  return fc.oneof(
    fc.tuple(at, fc.integer({ min: 0, max: 7 })).map(([i, bit]) => {
      const copy = Uint8Array.from(valid);
      if (copy.length > 0) copy[i] = (copy[i] ?? 0) ^ (1 << bit);
      return copy;
    }),
    at.map((i) => valid.slice(0, i)),
    fc.tuple(at, fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([i, extra]) => Buffer.concat([valid.slice(0, i), extra, valid.slice(i)])),
    fc.uint8Array({ minLength: 1, maxLength: 8 }).map((extra) => Buffer.concat([valid, extra])),
    fc.constant(Buffer.concat([valid, valid])),
  );
}

/** Random bytes, DER bombs and oversized blobs. */
export const hostileBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.constantFrom(
    new Uint8Array(),
    Uint8Array.of(0x30, 0x80, 0x00, 0x00), // indefinite length: BER, not DER
    Uint8Array.of(0x30, 0x84, 0xff, 0xff, 0xff, 0xff), // a length past the input
    Uint8Array.of(0x1f, 0xff, 0xff, 0xff, 0x7f, 0x00), // a multi-byte tag
    derNestingBomb(40),
    derNestingBomb(20_000),
    Buffer.alloc(OVER_64_KIB, 0x30),
  ),
);

/** PEM text for `der` under `label`, the way tools write it. */
export function pemOf(der: Uint8Array, label: string): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** A valid PEM block damaged: text around or after it, a second block, a bad body, another label, a DER bomb. */
export function mutatedPem(valid: string, label: string, der: Uint8Array): fc.Arbitrary<string> {
  return fc.oneof(
    mutatedString(valid),
    mutatedBytes(der).map((bytes) => pemOf(bytes, label)),
    fc.constantFrom(
      `${valid}trailing garbage`,
      `garbage\n${valid}`,
      valid + valid,
      valid.replace(/\n/g, '\r\n'),
      valid.replace(`BEGIN ${label}`, 'BEGIN PRIVATE KEY'),
      valid.replace(`END ${label}`, 'END CERTIFICATE X'),
      valid.replace(/\n[A-Za-z0-9+/]{4}/, '\n!!!!'),
      valid.replace(`-----\n`, '-----\nProc-Type: 4,ENCRYPTED\n\n'),
      pemOf(derNestingBomb(40), label),
      pemOf(derNestingBomb(10_000), label), // just under 64 KiB
      pemOf(Buffer.concat([der, Uint8Array.of(0x05, 0x00)]), label),
      `-----BEGIN ${label}-----\n${' '.repeat(60_000)}!\n-----END ${label}-----\n`,
      `-----BEGIN ${label}-----`.repeat(3000),
      `-----BEGIN ${label}-----\n`,
      pemOf(Buffer.alloc(OVER_64_KIB, 0x41), label),
    ),
  );
}

/** A compact JWS damaged: parts cut, swapped or added, characters outside base64url, hostile headers. */
export function mutatedToken(valid: string): fc.Arbitrary<string> {
  const [header = '', payload = '', signature = ''] = valid.split('.');
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const deep = Buffer.from(`{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`).toString('base64url');
  return fc.oneof(
    mutatedString(valid),
    fc.constantFrom(
      `${header}.${payload}`,
      `${header}.${payload}.${signature}.x`,
      `${payload}.${header}.${signature}`,
      `${encode({ alg: 'none' })}.${payload}.`,
      `${encode({ alg: 'HS256', 'x5t#S256': 'x' })}.${payload}.${signature}`,
      `${header}.${deep}.${signature}`,
      `${deep}.${payload}.${signature}`,
      `${header}.${encode({ iss: 'a\u0000', sub: 'a\u0000', aud: 'x', exp: 1e300, iat: -1e300, jti: '\ud800' })}.${signature}`,
      `${header}.${payload}.${signature}`.replace(/[A-Z]/, '+'),
      '.'.repeat(70_000),
    ),
  );
}

/** Integers at and around every boundary a field may have (int32, uint32, page sizes, counts). */
export const hostileInt32 = fc.oneof(fc.constantFrom(0, -1, 1, 63, 64, 65, 500, 501, 2 ** 31 - 1, -(2 ** 31)), fc.integer());
export const hostileUint32 = fc.oneof(fc.constantFrom(0, 1, 86_400, 86_401, 2 ** 32 - 1), fc.nat({ max: 2 ** 32 - 1 }));
export const hostileUint64 = fc.oneof(
  fc.constantFrom(0n, 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.bigInt({ min: 0n, max: 1000n }),
);
export const hostileInt64 = fc.oneof(fc.constantFrom(0n, -1n, -(2n ** 63n), 2n ** 63n - 1n), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));

/** Any JSON value, for a field that wants another type. */
export const wrongJsonValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, '', 'x', [], {}, [[[]]], { a: { b: {} } }, '1e309', 'NaN', 'Infinity'),
  fc.jsonValue({ maxDepth: 3 }),
);

/** Bytes that are not UTF-8: each must be refused wherever text is expected. */
export const invalidUtf8 = fc.constantFrom(
  Uint8Array.of(0xff),
  Uint8Array.of(0xc0, 0x80), // overlong NUL
  Uint8Array.of(0x80), // lone continuation byte
  Uint8Array.of(0xe2, 0x82), // cut multibyte sequence
  Uint8Array.of(0xed, 0xa0, 0x80), // an encoded surrogate
  Uint8Array.of(0xf4, 0x90, 0x80, 0x80), // past U+10FFFF
);

/** JSON bodies every transport must refuse: invalid UTF-8, nesting deeper than 32 levels, more than 1 MiB. */
export function refusedJsonBody(valid: string): fc.Arbitrary<Uint8Array> {
  const text = Buffer.from(valid);
  const at = fc.nat({ max: text.length });
  const quote = text.indexOf(0x22, text.indexOf(0x3a));
  const intoString = (bytes: Uint8Array) =>
    quote < 0 ? Buffer.concat([text, bytes]) : Buffer.concat([text.subarray(0, quote + 1), bytes, text.subarray(quote + 1)]);
  return fc.oneof(
    invalidUtf8.map(intoString),
    fc.tuple(at, invalidUtf8).map(([i, bytes]) => Buffer.concat([text.subarray(0, i), bytes, text.subarray(i)])),
    fc.integer({ min: 33, max: 20_000 }).map((depth) => Buffer.from(`{"x":${'['.repeat(depth)}${']'.repeat(depth)}}`)),
    fc.integer({ min: 33, max: 20_000 }).map((depth) => Buffer.from('['.repeat(depth))),
    fc.constant(Buffer.from(`{"padding":"${'a'.repeat(1 << 20)}"}`)),
  );
}

/** JSON text the way a broken or hostile client sends it: cut, spliced, odd but maybe still valid. */
export function mutatedJsonBody(valid: string): fc.Arbitrary<Uint8Array> {
  const text = Buffer.from(valid);
  return fc.oneof(
    mutatedBytes(text),
    fc.nat({ max: text.length }).map((i) => text.subarray(0, i)),
    fc.constantFrom(
      Buffer.from(`\ufeff${valid}`),
      Buffer.from(valid.replace('{', '{"x":1,"x":2,')),
      Buffer.from(valid.replace(/"([^"]*)"/, '"$1\u0001"')),
      Buffer.from(valid.replace(/"([^"]*)"/, '"$1\\u0000"')),
      Buffer.from(valid.replace(/"([^"]*)"/, '"$1\\ud800"')),
      Buffer.from('null'),
      Buffer.from('[]'),
      Buffer.from('"string"'),
    ),
  );
}
