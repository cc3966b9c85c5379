import { describe, expect, it } from 'vitest';
import {
  parseRdata,
  parseSvcParams,
  parseTxt,
  quoteCharacterString,
  rdataPresentation,
  svcParamsPresentation,
  txtPresentation,
} from '../../src/dns/presentation.ts';
import type { SvcbData } from '../../src/dns/rrset.ts';

const bytes = (text: string) => new TextEncoder().encode(text).length;

describe('TXT presentation', () => {
  it.each([
    ['plain', 'v=atr1; status=active', '"v=atr1; status=active"'],
    ['a quote', 'a"b', '"a\\"b"'],
    ['a backslash', 'a\\b', '"a\\\\b"'],
    ['a backslash before a quote', '\\"', '"\\\\\\""'],
    ['UTF-8', 'é', '"\\195\\169"'],
    ['a four-byte character', '😀', '"\\240\\159\\152\\128"'],
    ['controls and DEL', 'a\nb\tc\u007f', '"a\\010b\\009c\\127"'],
    ['the empty string', '', '""'],
    ['zone-file specials', '; ( ) $ @', '"; ( ) $ @"'],
  ])('quotes %s with RFC 1035 escapes', (_what, text, presented) => {
    expect(quoteCharacterString(text)).toBe(presented);
    expect(parseTxt(presented).strings).toEqual([text]);
  });

  it('writes octal escapes for Route 53', () => {
    expect(quoteCharacterString('é\n"\\', { escape: 'octal' })).toBe('"\\303\\251\\012\\"\\\\"');
    expect(parseTxt('"\\303\\251\\012"', { escape: 'octal' }).strings).toEqual(['é\n']);
  });

  it('takes strings of exactly 255 bytes, ASCII or multi-byte, and refuses 256', () => {
    const ascii = 'x'.repeat(255);
    const multibyte = `${'é'.repeat(127)}a`;
    expect(bytes(multibyte)).toBe(255);
    const presented = txtPresentation({ strings: [ascii, multibyte] });
    expect(presented).toBe(`"${ascii}" "${'\\195\\169'.repeat(127)}a"`);
    expect(parseTxt(presented).strings).toEqual([ascii, multibyte]);
    expect(() => quoteCharacterString('x'.repeat(256))).toThrow(/at most 255 bytes.*not 256/);
    expect(() => quoteCharacterString('é'.repeat(128))).toThrow(/at most 255 bytes.*not 256/);
  });

  it('keeps the strings of a many-string record apart', () => {
    const strings = ['v=atr1; status=active', 'fp=sha256:ab"cd', 'caps=a\\b', ''];
    expect(parseTxt(txtPresentation({ strings })).strings).toEqual(strings);
  });

  it('reads what dig prints: quoted strings, bare words, escaped quotes', () => {
    expect(parseTxt('"v=atr1; a" "b\\195\\169" bare "x\\"y" "z\\\\"').strings).toEqual(['v=atr1; a', 'bé', 'bare', 'x"y', 'z\\']);
  });

  it.each([
    ['"open', 'without its closing quote'],
    ['"a\\"', 'without its closing quote'],
    ['"\\256"', 'three decimal digits up to 255'],
    ['"\\12"', 'three decimal digits'],
    ['a"b"', 'a quote inside an unquoted string'],
    ['"\\255"', 'not UTF-8'],
    ['', 'at least one character-string'],
  ])('refuses %j: %s', (text, rule) => {
    expect(() => parseTxt(text)).toThrow(rule);
  });

  it('refuses a record with no strings', () => {
    expect(() => txtPresentation({ strings: [] })).toThrow('at least one character-string');
  });
});

describe('TLSA and SRV presentation', () => {
  const tlsa = { usage: 3, selector: 1, matchingType: 1, data: 'ab'.repeat(32) };

  it('writes TLSA as usage selector matching-type hex and reads dig\'s split uppercase hex', () => {
    expect(rdataPresentation('TLSA', tlsa)).toBe(`3 1 1 ${'ab'.repeat(32)}`);
    expect(parseRdata('TLSA', `3 1 1 ${'AB'.repeat(16)} ${'AB'.repeat(16)}`)).toEqual(tlsa);
    expect(() => rdataPresentation('TLSA', { ...tlsa, data: 'abc' })).toThrow('even number of hex digits');
  });

  it('writes SRV with an absolute target and reads it back', () => {
    const srv = { priority: 10, weight: 5, port: 443, target: 'billing.agents.example.com' };
    expect(rdataPresentation('SRV', srv)).toBe('10 5 443 billing.agents.example.com.');
    expect(parseRdata('SRV', '10 5 443 Billing.Agents.Example.COM.')).toEqual(srv);
    expect(() => parseRdata('SRV', '10 5 70000 x.example.')).toThrow('SRV port must be a whole number from 0 to 65535');
  });
});

describe('SVCB presentation (RFC 9460)', () => {
  const service: SvcbData = {
    priority: 1,
    target: 'billing.agents.example.com',
    params: [
      { key: 'alpn', value: 'h2,http/1.1' },
      { key: 'port', value: '443' },
      { key: 'key65400', value: 'hello "world"' },
    ],
  };

  it('writes priority, absolute target and key=value params, quoting values with specials', () => {
    expect(rdataPresentation('SVCB', service)).toBe('1 billing.agents.example.com. alpn=h2,http/1.1 port=443 key65400="hello \\"world\\""');
    expect(parseRdata('SVCB', rdataPresentation('SVCB', service))).toEqual(service);
  });

  it('writes AliasMode to the root as "0 ." and a key without a value bare', () => {
    expect(rdataPresentation('SVCB', { priority: 0, target: '', params: [] })).toBe('0 .');
    expect(svcParamsPresentation([{ key: 'no-default-alpn', value: '' }])).toBe('no-default-alpn');
  });

  it('reads BIND\'s quoted values and keeps RFC 9460\'s value-list escapes for the key to decode', () => {
    expect(parseRdata('SVCB', '1 svc.example. alpn="h2,http/1.1" port=443')).toEqual({
      priority: 1,
      target: 'svc.example',
      params: [
        { key: 'alpn', value: 'h2,http/1.1' },
        { key: 'port', value: '443' },
      ],
    });
    // RFC 9460 Appendix D.2, figure 11: alpn ids "f\oo,bar" and "h2".
    const params = parseSvcParams('alpn="f\\\\\\\\oo\\\\,bar,h2"');
    expect(params).toEqual([{ key: 'alpn', value: 'f\\\\oo\\,bar,h2' }]);
    expect(svcParamsPresentation(params)).toBe('alpn="f\\\\\\\\oo\\\\,bar,h2"');
  });

  it('refuses a key that is not a SvcParamKey', () => {
    expect(() => svcParamsPresentation([{ key: 'Bad Key', value: '1' }])).toThrow('SvcParamKey');
    expect(() => parseSvcParams('al_pn=h2')).toThrow('SvcParamKey');
  });
});
