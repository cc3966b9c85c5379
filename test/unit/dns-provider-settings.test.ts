import { describe, expect, it } from 'vitest';
import { configWith } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { createDnsProvider } from '../../src/dns-providers/index.ts';

const SECRET = Buffer.alloc(32, 9).toString('base64');
const config = (overrides: Partial<Config>) => configWith({ dnsZones: ['agents.example.com'], ...overrides });

function startupError(overrides: Partial<Config>): string {
  try {
    createDnsProvider(config(overrides));
  } catch (error) {
    expect((error as Error).name).toBe('ConfigError');
    return (error as Error).message;
  }
  throw new Error('no error');
}

describe('createDnsProvider', () => {
  it('builds the provider DNS_PROVIDER names from complete settings', async () => {
    const providers = [
      createDnsProvider(config({ dnsProvider: 'rfc2136', rfc2136Server: ['127.0.0.1:53'], rfc2136TsigKeyName: 'atr', rfc2136TsigSecret: SECRET })),
      createDnsProvider(config({ dnsProvider: 'route53', route53HostedZoneId: 'Z123' })),
      createDnsProvider(config({ dnsProvider: 'cloudflare', cloudflareApiToken: 'token', cloudflareZoneId: 'zone' })),
    ];
    expect(providers.map((provider) => provider.name)).toEqual(['rfc2136', 'route53', 'cloudflare']);
    await Promise.all(providers.map((provider) => provider.close?.()));
  });

  it.each<[string, Partial<Config>, string[]]>([
    ['route53 without its zone', { dnsProvider: 'route53' }, ['DNS_PROVIDER=route53 needs ROUTE53_HOSTED_ZONE_ID']],
    [
      'route53 with half a key pair',
      { dnsProvider: 'route53', route53HostedZoneId: 'Z123', route53AccessKeyId: 'AKIA1' },
      ['ROUTE53_AWS_ACCESS_KEY_ID and ROUTE53_AWS_SECRET_ACCESS_KEY go together'],
    ],
    [
      'rfc2136 with nothing',
      { dnsProvider: 'rfc2136' },
      ['DNS_PROVIDER=rfc2136 needs RFC2136_TSIG_KEY_NAME', 'DNS_PROVIDER=rfc2136 needs RFC2136_TSIG_SECRET', 'DNS_PROVIDER=rfc2136 needs RFC2136_SERVER: one primary server as host:port'],
    ],
    [
      'rfc2136 with two servers and a short secret',
      { dnsProvider: 'rfc2136', rfc2136Server: ['a:53', 'b:53'], rfc2136TsigKeyName: 'atr', rfc2136TsigSecret: 'c2hvcnQ=' },
      ['RFC2136_SERVER: one primary server as host:port (not 2)', 'RFC2136_TSIG_SECRET must be base64 of at least 16 bytes'],
    ],
    ['cloudflare with nothing', { dnsProvider: 'cloudflare' }, ['DNS_PROVIDER=cloudflare needs CLOUDFLARE_API_TOKEN', 'DNS_PROVIDER=cloudflare needs CLOUDFLARE_ZONE_ID']],
    [
      'cloudflare with a TTL it cannot take',
      { dnsProvider: 'cloudflare', cloudflareApiToken: 'token', cloudflareZoneId: 'zone', dnsTtl: 10 },
      ["DNS_PROVIDER=cloudflare needs DNS_TTL of at least 30 (Cloudflare's shortest, Enterprise; 60 otherwise), not 10"],
    ],
  ])('refuses to start: %s', (_what, overrides, problems) => {
    const message = startupError(overrides);
    for (const problem of problems) expect(message).toContain(problem);
  });

  it('never repeats a secret in a startup error', () => {
    const secret = 'c2VjcmV0LXNob3J0';
    expect(startupError({ dnsProvider: 'rfc2136', rfc2136Server: ['a:53'], rfc2136TsigKeyName: 'atr', rfc2136TsigSecret: secret })).not.toContain(secret);
  });

  it('leaves the built-in server to the DNS publication', () => {
    expect(startupError({ dnsProvider: 'local' })).toContain('DNS_PROVIDER=local is the built-in server');
  });
});
