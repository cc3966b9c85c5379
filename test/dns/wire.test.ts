// The wire codec of published records: SVCB against RFC 9460's appendix D vectors, and every type through
// dns-packet and back.
import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import type { RRset, SvcbData } from '../../src/dns/rrset.ts';
import { decodeSvcb, encodeSvcb, fromPacketAnswers, toPacketAnswers } from '../../src/dns/wire.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const fooExampleCom = '03666f6f076578616d706c6503636f6d00';
const fooExampleOrg = '03666f6f076578616d706c65036f726700';

describe('SVCB rdata (RFC 9460 appendix D)', () => {
  const vectors: [string, SvcbData, Buffer][] = [
    ['AliasMode', { priority: 0, target: 'foo.example.com', params: [] }, hex(`0000 ${fooExampleCom}`)],
    ['root target', { priority: 1, target: '', params: [] }, hex('0001 00')],
    ['port', { priority: 16, target: 'foo.example.com', params: [{ key: 'port', value: '53' }] }, hex(`0010 ${fooExampleCom} 0003 0002 0035`)],
    ['generic key', { priority: 1, target: 'foo.example.com', params: [{ key: 'key667', value: 'hello' }] }, hex(`0001 ${fooExampleCom} 029b 0005 68656c6c6f`)],
    [
      'ipv6hint',
      { priority: 1, target: 'foo.example.com', params: [{ key: 'ipv6hint', value: '2001:db8::1,2001:db8::53:1' }] },
      hex(`0001 ${fooExampleCom} 0006 0020 20010db8000000000000000000000001 20010db8000000000000000000530001`),
    ],
    [
      'mandatory, alpn and ipv4hint, keys sorted',
      {
        priority: 16,
        target: 'foo.example.org',
        params: [
          { key: 'alpn', value: 'h2,h3-19' },
          { key: 'mandatory', value: 'ipv4hint,alpn' },
          { key: 'ipv4hint', value: '192.0.2.1' },
        ],
      },
      hex(`0010 ${fooExampleOrg} 0000 0004 0001 0004 0001 0009 026832 0568332d3139 0004 0004 c0000201`),
    ],
  ];
  it.each(vectors)('%s', (_, data, wire) => {
    expect(encodeSvcb(data).toString('hex')).toBe(wire.toString('hex'));
    const back = decodeSvcb(wire);
    expect(back.priority).toBe(data.priority);
    expect(encodeSvcb(back).toString('hex')).toBe(wire.toString('hex'));
  });

  it('refuses what RFC 9460 forbids, naming the rule', () => {
    const base = { priority: 1, target: 'svc.example.com' };
    expect(() => encodeSvcb({ ...base, params: [{ key: 'port', value: '1' }, { key: 'port', value: '2' }] })).toThrow(/appears twice/);
    expect(() => encodeSvcb({ ...base, params: [{ key: 'mandatory', value: 'port' }] })).toThrow(/does not carry/);
    expect(() => encodeSvcb({ ...base, params: [{ key: 'port', value: '70000' }] })).toThrow(/0 to 65535/);
    expect(() => encodeSvcb({ ...base, params: [{ key: 'cap', value: 'x' }] })).toThrow(/keyNNNNN/);
    expect(() => encodeSvcb({ ...base, params: [{ key: 'ipv6hint', value: '1::2::3' }] })).toThrow(/not an IPv6 address/);
    expect(() => decodeSvcb(hex('0001 00 0003 0002 0035 0001 0003 026832'))).toThrow(/ascending/);
  });
});

describe('records through dns-packet', () => {
  const sets: RRset[] = [
    { name: 'a.example.com', type: 'TXT', ttl: 60, records: [{ strings: ['v=atr1', 'x'.repeat(255)] }, { strings: ['second'] }] },
    { name: '_443._tcp.a.example.com', type: 'TLSA', ttl: 60, records: [{ usage: 3, selector: 1, matchingType: 1, data: 'ab'.repeat(32) }] },
    { name: '_a2a._tcp.a.example.com', type: 'SRV', ttl: 60, records: [{ priority: 10, weight: 5, port: 8443, target: 'host.example.com' }] },
    { name: 'a._agents.example.com', type: 'SVCB', ttl: 60, records: [{ priority: 1, target: 'host.example.com', params: [{ key: 'alpn', value: 'h2' }, { key: 'port', value: '8443' }, { key: 'key65400', value: 'a2a' }] }] },
  ];
  it('decodes to what was encoded', () => {
    const packet = dnsPacket.decode(dnsPacket.encode({ type: 'response', id: 1, answers: sets.flatMap(toPacketAnswers) }));
    expect(fromPacketAnswers(packet.answers ?? [])).toEqual(sets);
  });

  it('refuses a TXT string over 255 bytes and TLSA data that is not hex', () => {
    expect(() => toPacketAnswers({ name: 'a.example.com', type: 'TXT', ttl: 60, records: [{ strings: ['x'.repeat(256)] }] })).toThrow(/at most 255 bytes/);
    expect(() => toPacketAnswers({ name: 'a.example.com', type: 'TLSA', ttl: 60, records: [{ usage: 3, selector: 1, matchingType: 1, data: 'xyz' }] })).toThrow(/hex/);
  });
});
