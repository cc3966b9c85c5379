// Which address a request is counted and audited by (client-address.ts), hop by hop, and TRUSTED_PROXIES as the
// configuration reads it: the proxy header is believed only from a trusted peer, and only from the right.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { type ProxyHeader, clientAddressOf } from '../../src/server/client-address.ts';

const request = (peer: string, headers: Record<string, string> = {}) => ({ socket: { remoteAddress: peer }, headers });
const addressOf = (trustedProxies: readonly string[], header: ProxyHeader = 'x-forwarded-for') => clientAddressOf({ trustedProxies, header });

describe('the client address', () => {
  it('is the TCP peer when no proxy is trusted, whatever the headers say', () => {
    const of = addressOf([]);
    expect(of(request('203.0.113.5', { 'x-forwarded-for': '198.51.100.1', forwarded: 'for=198.51.100.2' }))).toBe('203.0.113.5');
    expect(of(request('::ffff:203.0.113.5'))).toBe('203.0.113.5');
  });

  it('is the TCP peer when the peer is not a trusted proxy', () => {
    expect(addressOf(['10.0.0.0/8'])(request('203.0.113.5', { 'x-forwarded-for': '198.51.100.1' }))).toBe('203.0.113.5');
  });

  it('is the right-most hop that is not a trusted proxy; hops a client wrote to its left are ignored', () => {
    const of = addressOf(['10.0.0.0/8', '192.0.2.1/32']);
    expect(of(request('10.0.0.1', { 'x-forwarded-for': '198.51.100.66, 203.0.113.9, 192.0.2.1, 10.9.9.9' }))).toBe('203.0.113.9');
    expect(of(request('10.0.0.1', { 'x-forwarded-for': '203.0.113.9:4711' }))).toBe('203.0.113.9');
    expect(of(request('10.0.0.1', { 'x-forwarded-for': '[2001:DB8::1]:443' }))).toBe('2001:db8::1');
    // Every hop trusted: the left-most, the first proxy, is the client.
    expect(of(request('10.0.0.1', { 'x-forwarded-for': '10.1.1.1, 10.2.2.2' }))).toBe('10.1.1.1');
    // No header: the proxy itself.
    expect(of(request('10.0.0.1'))).toBe('10.0.0.1');
  });

  it('matches IPv4-mapped IPv6 peers and hops against IPv4 ranges', () => {
    const of = addressOf(['127.0.0.0/8']);
    expect(of(request('::ffff:127.0.0.1', { 'x-forwarded-for': '::ffff:127.0.0.2, 198.51.100.1' }))).toBe('198.51.100.1');
    expect(of(request('::ffff:127.0.0.1', { 'x-forwarded-for': '198.51.100.1, ::ffff:127.0.0.2' }))).toBe('198.51.100.1');
  });

  it('reads RFC 7239 Forwarded: quoted IPv6 with ports, quoted commas, obfuscated identifiers, unknown hops', () => {
    const of = addressOf(['127.0.0.1'], 'forwarded');
    const from = (forwarded: string) => of(request('127.0.0.1', { forwarded }));
    expect(from('for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711"')).toBe('2001:db8:cafe::17');
    expect(from('for=198.51.100.9;by="a, b;c", for=127.0.0.1')).toBe('198.51.100.9');
    expect(from('for=198.51.100.9, for="_hidden_client"')).toBe('_hidden_client');
    // A proxy that cannot name its client leaves itself as the client rather than the hops to the left.
    expect(from('for=198.51.100.9, for=unknown')).toBe('127.0.0.1');
    expect(from('for=198.51.100.9, proto=https')).toBe('127.0.0.1');
    expect(from('for=198.51.100.9, nonsense')).toBe('127.0.0.1');
    // The header not configured is not read.
    expect(of(request('127.0.0.1', { 'x-forwarded-for': '198.51.100.1' }))).toBe('127.0.0.1');
  });
});

describe('TRUSTED_PROXIES', () => {
  const load = (env: Record<string, string>) => loadConfig(env, '/nonexistent/.env');

  it('reads addresses and CIDR ranges of either family, as address/prefix', () => {
    expect(load({ TRUSTED_PROXIES: ' 10.0.0.0/8, 192.0.2.1,FD00::/8 ' }).trustedProxies).toEqual(['10.0.0.0/8', '192.0.2.1/32', 'fd00::/8']);
    expect(load({}).trustedProxies).toEqual([]);
  });

  it('fails the configuration, naming the entry, for anything else', () => {
    for (const bad of ['10.0.0.0/33', 'proxy.internal', '10.0.0.0/8/1', '10.0.0.0/', '::1/129', '10.0.0.300']) {
      expect(() => load({ TRUSTED_PROXIES: `127.0.0.1, ${bad}` }), bad).toThrow(ConfigError);
      expect(() => load({ TRUSTED_PROXIES: `127.0.0.1, ${bad}` }), bad).toThrow(
        `TRUSTED_PROXIES="127.0.0.1, ${bad}": must be IP addresses or CIDR ranges such as 10.0.0.0/8 or fd00::/8, separated by commas (not ${JSON.stringify(bad)})`,
      );
    }
    expect(() => load({ TRUSTED_PROXY_HEADER: 'x-real-ip' })).toThrow('TRUSTED_PROXY_HEADER="x-real-ip": must be one of x-forwarded-for, forwarded');
    expect(() => load({ METRICS_PORT: '70000' })).toThrow('METRICS_PORT="70000": must be a whole number from 0 to 65535');
    expect(() => load({ PUBLIC_TLS: 'on' })).toThrow('PUBLIC_TLS="on": must be one of off, files, registry');
  });
});
