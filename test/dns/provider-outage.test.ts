// DNS being down never fails a registry change: a registry publishing through RFC 2136 to a BIND that is not
// running yet commits the registration, shows dns_status pending and audits dns.failed; once BIND runs on that port
// the publisher's retry brings the record there and dns_status becomes published. A refusal that will not pass by
// itself (a wrong TSIG secret) shows as failed with the server's reason, and the registry change still stands.
import { randomBytes } from 'node:crypto';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { type AuthoritativeServer, KEY_NAME, freePort, startAuthoritative } from '../support/authoritative-servers.ts';
import { runningServer } from '../support/server.ts';

/** The zone BIND from authoritative-servers.ts takes updates for. */
const ZONE = 'example.test';

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function registryPublishingTo(port: number, secret: string) {
  const context = await runningServer('sqlite', {
    dnsZones: [ZONE],
    dnsProvider: 'rfc2136',
    rfc2136Server: [`127.0.0.1:${port}`],
    rfc2136TsigKeyName: KEY_NAME,
    rfc2136TsigSecret: secret,
    mtlsEnabled: false,
  });
  stops.push(() => context.cleanup());
  return createClient(RegistryService, createConnectTransport({ baseUrl: context.server.url, httpVersion: '1.1' }));
}

async function startBind(port: number, secret: string): Promise<AuthoritativeServer> {
  const bind = await startAuthoritative('bind', { port, secret });
  stops.push(() => bind.stop());
  return bind;
}

/** Reads until `check` passes: publication follows the committed change on its own schedule (its retries back off). */
async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, what: string): Promise<T> {
  for (let attempt = 0; attempt < 300; attempt++) {
    const value = await read();
    if (check(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

const secretOf = () => randomBytes(32).toString('base64');

describe('a registry whose DNS provider is unreachable', () => {
  it('commits the change, shows pending with a dns.failed audit event, and publishes once the server is up', async () => {
    const port = await freePort();
    const secret = secretOf();
    const registry = await registryPublishingTo(port, secret);
    const name = `billing.${ZONE}`;

    const registered = await registry.registerAgent({ agentName: name, owner: 'acme', capabilities: ['invoice'] });
    expect(registered.agent?.status).toBe(AgentStatus.ACTIVE);
    const failures = await eventually(
      () => registry.listAuditEvents({ agentName: name, eventType: 'dns.failed' }),
      (page) => page.events.length > 0,
      'the first failed publication',
    );
    expect(failures.events[0]?.metadata).toMatchObject({ provider: 'rfc2136', retryable: true, error: expect.stringContaining(`127.0.0.1:${port} is unreachable`) });
    // Unreachable is a failure that passes by itself: the agent is waiting for DNS, not refused by it.
    const waiting = (await registry.getAgent({ agentName: name })).agent;
    expect(waiting?.dnsStatus).toBe('pending');
    expect(waiting?.status).toBe(AgentStatus.ACTIVE);
    expect((await registry.getAgentDnsRecords({ agentName: name })).records).toEqual([]);
    // Further changes commit all the same while DNS is down.
    await registry.updateAgent({ agentName: name, capabilities: ['invoice', 'pay'] });

    const bind = await startBind(port, secret);
    await eventually(
      async () => (await registry.getAgent({ agentName: name })).agent?.dnsStatus,
      (status) => status === 'published',
      `dns_status published (BIND log: ${bind.log().slice(-500)})`,
    );
    const txt = bind.dig(`_atr.${name}`, 'TXT').join('');
    expect(txt).toContain(`fp=sha256:${registered.agent!.certFingerprint}`);
    expect(txt).toContain('caps=invoice,pay');
    expect(bind.dig(`_443._tcp.${name}`, 'TLSA')).toHaveLength(1);
    // One event per version that reached DNS; the latest, with the update's capabilities, among them.
    const published = await registry.listAuditEvents({ agentName: name, eventType: 'dns.published' });
    expect(published.events.map((event) => event.metadata)).toContainEqual(expect.objectContaining({ version: 2, provider: 'rfc2136', zone: ZONE }));
  });
});

describe('a registry the DNS server refuses', () => {
  it('shows failed with the TSIG refusal and keeps the registration', async () => {
    const port = await freePort();
    const bind = await startBind(port, secretOf());
    const registry = await registryPublishingTo(port, secretOf());
    const name = `refused.${ZONE}`;

    const registered = await registry.registerAgent({ agentName: name, owner: 'acme', capabilities: ['invoice'] });
    const status = await eventually(
      async () => (await registry.getAgent({ agentName: name })).agent?.dnsStatus ?? '',
      (value) => value.startsWith('failed: '),
      'dns_status failed',
    );
    expect(status).toContain('NOTAUTH (TSIG BADSIG for key atr-test)');
    const failures = await registry.listAuditEvents({ agentName: name, eventType: 'dns.failed' });
    expect(failures.events[0]?.metadata).toMatchObject({ retryable: false, error: expect.stringContaining('BADSIG') });
    // The registration committed: the agent is there, active, with the certificate it was issued.
    const agent = (await registry.getAgent({ agentName: name })).agent;
    expect(agent).toMatchObject({ status: AgentStatus.ACTIVE, certFingerprint: registered.agent!.certFingerprint });
    expect(bind.dig(`_atr.${name}`, 'TXT')).toEqual([]);
  });
});
