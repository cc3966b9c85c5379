// RRset data as zone-file presentation text (RFC 1035 §5.1, RFC 6698 §2.2, RFC 2782, RFC 9460 §2.1) and back:
// the form Route 53 and Cloudflare take record values in, and the form dig prints.
import type { PublishedType, RecordData, SrvData, SvcParam, SvcbData, TlsaData, TxtData } from './rrset.ts';

/**
 * How a byte outside printable ASCII is written: `\DDD` in decimal (RFC 1035, BIND, Cloudflare) or `\ooo` in octal
 * (Route 53's TXT rule).
 */
export type NumericEscape = 'decimal' | 'octal';

export interface PresentationOptions {
  readonly escape?: NumericEscape;
}

const MAX_CHARACTER_STRING = 255;
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** `name.` for an absolute name as the registry stores it (the root, '', is `.`). */
export function absoluteName(name: string): string {
  return name === '' ? '.' : `${name}.`;
}

/** The registry's form of a presented name: lowercase, without the trailing dot. */
function storedName(text: string): string {
  return text === '.' ? '' : text.toLowerCase().replace(/\.$/, '');
}

function numeric(byte: number, escape: NumericEscape): string {
  return `\\${escape === 'octal' ? byte.toString(8).padStart(3, '0') : byte.toString().padStart(3, '0')}`;
}

/**
 * One character-string in double quotes: `"` and `\` get a backslash, bytes outside printable ASCII (controls, DEL,
 * every byte of a non-ASCII UTF-8 character) a numeric escape, so the text is 7-bit and survives any API.
 */
export function quoteCharacterString(text: string, options: PresentationOptions = {}): string {
  const bytes = utf8.encode(text);
  if (bytes.length > MAX_CHARACTER_STRING) {
    throw new Error(`a character-string is at most ${MAX_CHARACTER_STRING} bytes of UTF-8 (RFC 1035 §3.3), not ${bytes.length}`);
  }
  let out = '"';
  for (const byte of bytes) {
    if (byte === 0x22 || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`;
    else if (byte < 0x20 || byte > 0x7e) out += numeric(byte, options.escape ?? 'decimal');
    else out += String.fromCharCode(byte);
  }
  return `${out}"`;
}

/** TXT: the strings, each quoted, separated by a space: `"v=atr1; ..." "more"`. */
export function txtPresentation(data: TxtData, options: PresentationOptions = {}): string {
  if (data.strings.length === 0) throw new Error('a TXT record holds at least one character-string (RFC 1035 §3.3.14)');
  return data.strings.map((text) => quoteCharacterString(text, options)).join(' ');
}

/** TLSA: `usage selector matching-type hex` (RFC 6698 §2.2). */
export function tlsaPresentation(data: TlsaData): string {
  if (!/^([0-9a-f]{2})+$/i.test(data.data)) throw new Error('TLSA association data must be an even number of hex digits');
  return `${data.usage} ${data.selector} ${data.matchingType} ${data.data.toLowerCase()}`;
}

/** SRV: `priority weight port target.` (RFC 2782). */
export function srvPresentation(data: SrvData): string {
  return `${data.priority} ${data.weight} ${data.port} ${absoluteName(data.target)}`;
}

// Characters a SvcParamValue may hold without quotes: RFC 1035's "contiguous" set less what ends or opens a token.
const BARE_VALUE = /^[!#-'*-:<-[\]-~]+$/;

/** One SvcParam: `key`, `key=value`, or `key="value"` when the value holds spaces, quotes or other specials. */
export function svcParamPresentation(param: SvcParam, options: PresentationOptions = {}): string {
  if (!/^[a-z0-9-]+$/.test(param.key)) throw new Error(`a SvcParamKey is lowercase letters, digits and hyphens (RFC 9460 §2.1), not ${JSON.stringify(param.key)}`);
  if (param.value === '') return param.key;
  if (BARE_VALUE.test(param.value)) return `${param.key}=${param.value}`;
  return `${param.key}=${quoteCharacterString(param.value, options)}`;
}

/** The SvcParams of a SVCB record, space-separated: Cloudflare's `data.value`. */
export function svcParamsPresentation(params: readonly SvcParam[], options: PresentationOptions = {}): string {
  return params.map((param) => svcParamPresentation(param, options)).join(' ');
}

/** SVCB: `priority target. key=value ...` (RFC 9460 §2.1). */
export function svcbPresentation(data: SvcbData, options: PresentationOptions = {}): string {
  return [String(data.priority), absoluteName(data.target), ...data.params.map((param) => svcParamPresentation(param, options))].join(' ');
}

/** A record's data as zone-file text. */
export function rdataPresentation<T extends PublishedType>(type: T, data: RecordData<T>, options: PresentationOptions = {}): string {
  switch (type) {
    case 'TXT':
      return txtPresentation(data as TxtData, options);
    case 'TLSA':
      return tlsaPresentation(data as TlsaData);
    case 'SRV':
      return srvPresentation(data as SrvData);
    default:
      return svcbPresentation(data as SvcbData, options);
  }
}

// ---- Parsing: presentation text back to data -------------------------------------------------------------------

function isSpace(char: string): boolean {
  return char === ' ' || char === '\t' || char === '\n' || char === '\r';
}

/**
 * Splits presentation text into character-strings, quoted ("..." with escapes) or contiguous, each decoded to its
 * bytes. `key="value"` (RFC 9460's quoted SvcParamValue) is one token, its quotes removed.
 */
function tokenize(text: string, options: PresentationOptions): Uint8Array[] {
  const tokens: Uint8Array[] = [];
  const radix = options.escape === 'octal' ? 8 : 10;
  let index = 0;
  for (;;) {
    while (index < text.length && isSpace(text.charAt(index))) index += 1;
    if (index >= text.length) return tokens;
    const bytes: number[] = [];
    let state: 'bare' | 'quoted' | 'closed' = 'bare';
    while (index < text.length && state !== 'closed') {
      const char = text.charAt(index);
      if (state === 'bare' && isSpace(char)) break;
      if (char === '"') {
        if (state === 'bare' && bytes.length > 0 && bytes[bytes.length - 1] !== 0x3d) throw new Error(`a quote inside an unquoted string at offset ${index}`);
        state = state === 'quoted' ? 'closed' : 'quoted';
        index += 1;
      } else if (char === '\\') {
        index += 1;
        if (/\d/.test(text.charAt(index))) {
          const digits = text.slice(index, index + 3);
          const value = Number.parseInt(digits, radix);
          if (!/^\d{3}$/.test(digits) || (radix === 8 && /[89]/.test(digits)) || value > 255) {
            throw new Error(`a numeric escape is a backslash and three ${radix === 8 ? 'octal' : 'decimal'} digits up to 255, not \\${digits}`);
          }
          bytes.push(value);
          index += 3;
        } else {
          const point = text.codePointAt(index);
          if (point === undefined) throw new Error('a backslash at the end of the text');
          bytes.push(...utf8.encode(String.fromCodePoint(point)));
          index += point > 0xffff ? 2 : 1;
        }
      } else {
        const point = text.codePointAt(index) ?? 0;
        bytes.push(...utf8.encode(String.fromCodePoint(point)));
        index += point > 0xffff ? 2 : 1;
      }
    }
    if (state === 'quoted') throw new Error('a quoted string without its closing quote');
    tokens.push(Uint8Array.from(bytes));
  }
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new Error('a character-string that is not UTF-8 (the registry stores text)');
  }
}

function number(token: Uint8Array | undefined, what: string, max: number): number {
  const text = token === undefined ? '' : decodeUtf8(token);
  if (!/^\d+$/.test(text) || Number(text) > max) throw new Error(`${what} must be a whole number from 0 to ${max}, not ${JSON.stringify(text)}`);
  return Number(text);
}

function nameToken(token: Uint8Array | undefined, what: string): string {
  if (token === undefined) throw new Error(`${what} is missing`);
  return storedName(decodeUtf8(token));
}

/** TXT text (`"a" "b"`, unquoted words too) to its strings. */
export function parseTxt(text: string, options: PresentationOptions = {}): TxtData {
  const strings = tokenize(text, options).map((token) => {
    if (token.length > MAX_CHARACTER_STRING) throw new Error(`a character-string is at most ${MAX_CHARACTER_STRING} bytes (RFC 1035 §3.3)`);
    return decodeUtf8(token);
  });
  if (strings.length === 0) throw new Error('a TXT record holds at least one character-string (RFC 1035 §3.3.14)');
  return { strings };
}

/** TLSA text; the hex may be split by spaces, as dig prints long data. */
export function parseTlsa(text: string): TlsaData {
  const [usage, selector, matchingType, ...hex] = tokenize(text, {});
  const data = hex.map((token) => decodeUtf8(token)).join('').toLowerCase();
  if (!/^([0-9a-f]{2})+$/.test(data)) throw new Error('TLSA association data must be an even number of hex digits');
  return {
    usage: number(usage, 'TLSA usage', 255),
    selector: number(selector, 'TLSA selector', 255),
    matchingType: number(matchingType, 'TLSA matching type', 255),
    data,
  };
}

export function parseSrv(text: string): SrvData {
  const [priority, weight, port, target, ...rest] = tokenize(text, {});
  if (rest.length > 0) throw new Error('SRV is priority weight port target, nothing more');
  return {
    priority: number(priority, 'SRV priority', 65535),
    weight: number(weight, 'SRV weight', 65535),
    port: number(port, 'SRV port', 65535),
    target: nameToken(target, 'SRV target'),
  };
}

function svcParams(tokens: readonly Uint8Array[]): SvcParam[] {
  return tokens.map((token) => {
    const equals = token.indexOf(0x3d);
    const key = decodeUtf8(equals < 0 ? token : token.subarray(0, equals)).toLowerCase();
    if (!/^[a-z0-9-]+$/.test(key)) throw new Error(`a SvcParamKey is lowercase letters, digits and hyphens (RFC 9460 §2.1), not ${JSON.stringify(key)}`);
    return { key, value: equals < 0 ? '' : decodeUtf8(token.subarray(equals + 1)) };
  });
}

/** SvcParams text (`alpn=h2 port=443 key65400="x"`) to params; a key without `=` has the empty value. */
export function parseSvcParams(text: string, options: PresentationOptions = {}): SvcParam[] {
  return svcParams(tokenize(text, options));
}

export function parseSvcb(text: string, options: PresentationOptions = {}): SvcbData {
  const [priority, target, ...params] = tokenize(text, options);
  return {
    priority: number(priority, 'SVCB priority', 65535),
    target: nameToken(target, 'SVCB target'),
    params: svcParams(params),
  };
}

/** Zone-file text of a record of `type` to its data. */
export function parseRdata<T extends PublishedType>(type: T, text: string, options: PresentationOptions = {}): RecordData<T> {
  switch (type) {
    case 'TXT':
      return parseTxt(text, options) as RecordData<T>;
    case 'TLSA':
      return parseTlsa(text) as RecordData<T>;
    case 'SRV':
      return parseSrv(text) as RecordData<T>;
    default:
      return parseSvcb(text, options) as RecordData<T>;
  }
}
