// TRUSTED_PROXIES on a real server: a request from a trusted proxy is counted (rate limits) and audited by the client
// its proxy header names, the right-most hop that is not a trusted proxy; the same headers from any other peer, and
// hops a client wrote itself to the left, change nothing.
import { randomBytes } from 'node:crypto';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import type { Config } from '../../src/config/schema.ts';
import { dialects } from '../support/databases.ts';
import { runningServer } from '../support/server.ts';

/** Three requests a minute per client address, in a trust domain of its own so no other run shares the budgets. */
const limited = (overrides: Partial<Config>): Partial<Config> => ({
  rateLimitEnabled: true,
  rateLimitPerMinute: 3,
  trustDomain: `proxy-${randomBytes(6).toString('hex')}.test`,
  ...overrides,
});

/** The statuses of `count` GET /v1/agents with `headers`. */
async function statuses(url: string, headers: Record<string, string>, count: number): Promise<number[]> {
  const seen = [];
  for (let i = 0; i < count; i++) seen.push((await fetch(`${url}/v1/agents`, { headers })).status);
  return seen;
}

/** Registers an agent over Connect with `headers`, and returns the actor its agent.registered audit event names. */
async function registeringActor(url: string, headers: Record<string, string>): Promise<string | undefined> {
  const transport = createConnectTransport({
    baseUrl: url,
    httpVersion: '1.1',
    interceptors: [(next) => (req) => {
      for (const [name, value] of Object.entries(headers)) req.header.set(name, value);
      return next(req);
    }],
  });
  const registry = createClient(RegistryService, transport);
  const agentName = `a${randomBytes(4).toString('hex')}.proxy.example`;
  await registry.registerAgent({ agentName, owner: 'proxy-team' });
  const { events } = await registry.listAuditEvents({ agentName, eventType: 'agent.registered' });
  return events[0]?.actor;
}

describe.each(dialects)('behind trusted proxies (%s)', (dialect) => {
  it('rate-limits each client a trusted proxy forwards on its own: one exhausted, the other still served', async () => {
    const server = await runningServer(dialect, limited({ trustedProxies: ['127.0.0.1/32'] }));
    try {
      const { url } = server.server;
      expect(await statuses(url, { 'x-forwarded-for': '198.51.100.1' }, 4)).toEqual([200, 200, 200, 429]);
      expect(await statuses(url, { 'x-forwarded-for': '198.51.100.2' }, 1)).toEqual([200]);
      // The proxy itself (no header) is a client of its own too.
      expect(await statuses(url, {}, 1)).toEqual([200]);
      // A hop the exhausted client wrote to the left of what the proxy appended is ignored.
      expect(await statuses(url, { 'x-forwarded-for': '203.0.113.50, 198.51.100.1' }, 1)).toEqual([429]);
    } finally {
      await server.cleanup();
    }
  }, 120_000);

  it('walks past every trusted hop to the right-most untrusted one, IPv4-mapped and Forwarded alike', async () => {
    const server = await runningServer(dialect, limited({ trustedProxies: ['127.0.0.1', '10.0.0.0/8'], trustedProxyHeader: 'forwarded' }));
    try {
      const { url } = server.server;
      const chain = (client: string) => ({ forwarded: `for=203.0.113.9, for=${client};proto=https, for="::ffff:10.1.2.3"` });
      expect(await statuses(url, chain('"[2001:db8:cafe::17]:4711"'), 4)).toEqual([200, 200, 200, 429]);
      // The same client written another way (upper case, no port) is the same client.
      expect(await statuses(url, chain('"[2001:DB8:CAFE::17]"'), 1)).toEqual([429]);
      expect(await statuses(url, chain('198.51.100.3'), 1)).toEqual([200]);
      // Only the configured header is read: X-Forwarded-For from the same proxy is ignored, so the proxy is the client.
      expect(await statuses(url, { 'x-forwarded-for': '198.51.100.4' }, 4)).toEqual([200, 200, 200, 429]);
    } finally {
      await server.cleanup();
    }
  }, 120_000);

  it('ignores the headers of a peer that is not a trusted proxy: its own address is counted', async () => {
    const server = await runningServer(dialect, limited({ trustedProxies: ['10.0.0.0/8'] }));
    try {
      const { url } = server.server;
      expect(await statuses(url, { 'x-forwarded-for': '198.51.100.1' }, 3)).toEqual([200, 200, 200]);
      expect(await statuses(url, { 'x-forwarded-for': '198.51.100.2' }, 1)).toEqual([429]);
      expect(await statuses(url, { forwarded: 'for=198.51.100.3' }, 1)).toEqual([429]);
    } finally {
      await server.cleanup();
    }
  }, 120_000);

  it('writes the forwarded client into the audit trail, and the peer when the peer is not trusted', async () => {
    const trusted = await runningServer(dialect, { trustedProxies: ['127.0.0.0/8'] });
    try {
      expect(await registeringActor(trusted.server.url, { 'x-forwarded-for': '6.6.6.6, 198.51.100.7' })).toBe('anonymous@198.51.100.7');
      expect(await registeringActor(trusted.server.url, {})).toBe('anonymous@127.0.0.1');
    } finally {
      await trusted.cleanup();
    }
    const untrusted = await runningServer(dialect, {});
    try {
      expect(await registeringActor(untrusted.server.url, { 'x-forwarded-for': '198.51.100.7' })).toBe('anonymous@127.0.0.1');
    } finally {
      await untrusted.cleanup();
    }
  }, 120_000);
});
