// Webhooks through a real server on SQLite and PostgreSQL, to a real receiver on 127.0.0.1 (WEBHOOK_ALLOW_PRIVATE):
// signed deliveries of an agent's lifecycle in order, retries with backoff, disabling after failures, TestWebhook,
// the secret shown once, and owner keys kept to their own owner's webhooks.
import { readFileSync } from 'node:fs';
import { toJsonString } from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyRole } from '../../gen/atr/v1/api_key_pb.js';
import { ListWebhooksResponseSchema } from '../../gen/atr/v1/webhook_pb.js';
import { type RegistryClient, createRegistryClient } from '../../src/sdk/client.ts';
import { dialects } from '../support/databases.ts';
import { rpcError } from '../support/rpc.ts';
import { runningServer } from '../support/server.ts';
import { type Receiver, startReceiver, verificationFailure } from './receiver.ts';

type Json = Record<string, unknown>;
const DISABLE_AFTER = 3;

describe.each(dialects)('webhooks on %s', (dialect) => {
  let base: string;
  let admin: RegistryClient;
  let adminKey: string;
  let cleanup: () => Promise<void>;
  const receivers: Receiver[] = [];
  const receiver = async (answer?: Parameters<typeof startReceiver>[0]) => {
    const started = await startReceiver(answer);
    receivers.push(started);
    return started;
  };
  const name = (label: string) => `${label}.hooks.${dialect}.example`;

  beforeAll(async () => {
    const started = await runningServer(dialect, { apiKeyEnabled: true, webhookAllowPrivate: true, webhookDisableAfterFailures: DISABLE_AFTER, jobsPollMs: 50 });
    base = started.server.url;
    cleanup = started.cleanup;
    adminKey = readFileSync(started.environment.config.adminKeyFile, 'utf8').trim();
    admin = createRegistryClient({ baseUrl: base, apiKey: adminKey });
  });
  afterEach(async () => {
    for (const each of receivers.splice(0)) await each.close();
  });
  afterAll(() => cleanup());

  it('delivers an agent registered, rotated and revoked as three signed messages, in order, that an independent check verifies', async () => {
    const hook = await receiver();
    const owner = 'lifecycle-team';
    const { webhook, secret } = await admin.webhooks.createWebhook({ owner, url: `${hook.url}/hooks/atr`, description: 'lifecycle' });
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(webhook).toMatchObject({ owner, enabled: true, eventTypes: [], consecutiveFailures: 0, createdBy: expect.stringMatching(/^key:/) });

    const agentName = name('lifecycle');
    await admin.registry.registerAgent({ agentName, owner });
    await admin.registry.rotateCertificate({ agentName });
    await admin.registry.revokeAgent({ agentName, reason: 'keyCompromise' });
    // Another owner's agent is none of this webhook's business.
    await admin.registry.registerAgent({ agentName: name('elsewhere'), owner: 'another-team' });
    await hook.until((got) => got.length >= 3);
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(hook.received).toHaveLength(3);
    const messages = hook.received.map((r) => JSON.parse(r.body) as { type: string; timestamp: string; data: Json });
    expect(messages.map((m) => m.type)).toEqual(['agent.registered', 'agent.rotated', 'agent.revoked']);
    const audit = await admin.registry.listAuditEvents({ agentName });
    for (const [i, got] of hook.received.entries()) {
      const message = messages[i]!;
      expect(verificationFailure(secret, got.headers, got.body)).toBeUndefined();
      expect(got.headers['content-type']).toBe('application/json');
      expect(got.headers['webhook-id']).toBe(message.data['cursor']);
      expect(message.data).toMatchObject({ event_type: message.type, agent_name: agentName, owner, actor: expect.stringMatching(/^key:/), timestamp: message.timestamp });
      expect(audit.events.map((e) => Number(e.id))).toContain(message.data['id']);
      // A body changed in transit, or the right body under another id, no longer verifies.
      expect(verificationFailure(secret, got.headers, got.body.replace(agentName, name('forged')))).toBe('no signature matches');
      expect(verificationFailure(secret, { ...got.headers, 'webhook-id': 'evt_0' }, got.body)).toBe('no signature matches');
    }
    expect((messages[2]!.data['metadata'] as Json)['reason']).toBe('keyCompromise');
    const ids = messages.map((m) => Number(m.data['id']));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));

    const log = await admin.webhooks.listWebhookDeliveries({ webhookId: webhook!.webhookId });
    expect(log.deliveries.map((d) => [d.eventType, d.attempt, d.statusCode, d.succeeded, d.error])).toEqual([
      ['agent.revoked', 1, 204, true, ''],
      ['agent.rotated', 1, 204, true, ''],
      ['agent.registered', 1, 204, true, ''],
    ]);
    expect(log.deliveries.map((d) => d.eventId)).toEqual(hook.received.map((r) => r.headers['webhook-id']).reverse());
  });

  it('sends only the event types asked for, and nothing from before the webhook was made', async () => {
    const owner = 'filter-team';
    const before = name('before');
    await admin.registry.registerAgent({ agentName: before, owner });
    const hook = await receiver();
    await admin.webhooks.createWebhook({ owner, url: hook.url, eventTypes: ['agent.revoked'] });
    await admin.registry.revokeAgent({ agentName: before });
    const after = name('after');
    await admin.registry.registerAgent({ agentName: after, owner });
    await admin.registry.revokeAgent({ agentName: after });
    await hook.until((got) => got.length >= 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(hook.received.map((r) => (JSON.parse(r.body) as { type: string; data: Json }).data['agent_name'])).toEqual([before, after]);
    expect(hook.received.map((r) => (JSON.parse(r.body) as { type: string }).type)).toEqual(['agent.revoked', 'agent.revoked']);
    expect((await rpcError(admin.webhooks.createWebhook({ owner, url: hook.url, eventTypes: ['agent.renamed'] }))).rawMessage).toMatch(
      /^event_types: "agent.renamed" is not one of agent.registered, /,
    );
  });

  it('retries a failing endpoint with growing gaps: 500, 500, then 200, all three in the delivery log', async () => {
    const hook = await receiver(({ count }) => (count < 2 ? 500 : 200));
    const owner = 'retry-team';
    const { webhook, secret } = await admin.webhooks.createWebhook({ owner, url: hook.url });
    await admin.registry.registerAgent({ agentName: name('retried'), owner });
    await hook.until((got) => got.length >= 3);
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(hook.received.map((r) => r.status)).toEqual([500, 500, 200]);
    const [first, second, third] = hook.received as [(typeof hook.received)[0], (typeof hook.received)[0], (typeof hook.received)[0]];
    // The same message each time (same id and body), signed afresh for each attempt.
    expect(new Set(hook.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(new Set(hook.received.map((r) => r.body)).size).toBe(1);
    for (const got of hook.received) expect(verificationFailure(secret, got.headers, got.body)).toBeUndefined();
    // The queue's backoff: about 1 s, then about 2 s.
    const gaps = [second.at - first.at, third.at - second.at];
    expect(gaps[0]).toBeGreaterThanOrEqual(900);
    expect(gaps[1]).toBeGreaterThanOrEqual(1900);
    expect(gaps[1]).toBeGreaterThan(gaps[0]!);

    const log = await admin.webhooks.listWebhookDeliveries({ webhookId: webhook!.webhookId });
    expect(log.deliveries.map((d) => [d.attempt, d.statusCode, d.succeeded, d.error])).toEqual([
      [3, 200, true, ''],
      [2, 500, false, 'HTTP 500'],
      [1, 500, false, 'HTTP 500'],
    ]);
    const [listed] = (await admin.webhooks.listWebhooks({ owner })).webhooks;
    expect(listed).toMatchObject({ enabled: true, consecutiveFailures: 0 });
    // Paged, newest first.
    const page = await admin.webhooks.listWebhookDeliveries({ webhookId: webhook!.webhookId, pageSize: 2 });
    expect(page.deliveries.map((d) => d.attempt)).toEqual([3, 2]);
    const rest = await admin.webhooks.listWebhookDeliveries({ webhookId: webhook!.webhookId, pageSize: 2, pageToken: page.nextPageToken });
    expect(rest.deliveries.map((d) => d.attempt)).toEqual([1]);
    expect(rest.nextPageToken).toBe('');
    const overRest = await fetch(`${base}/v1/webhooks/${webhook!.webhookId}/deliveries?page_size=1`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(await overRest.json()).toMatchObject({ deliveries: [{ attempt: 3, status_code: 200, succeeded: true, event_type: 'agent.registered' }], next_page_token: expect.stringMatching(/./) });
  });

  it(`disables a webhook after ${DISABLE_AFTER} failed attempts in a row, with an audit event, and sends it nothing more`, async () => {
    const hook = await receiver(() => 503);
    const owner = 'failing-team';
    const { webhook } = await admin.webhooks.createWebhook({ owner, url: hook.url });
    const webhookId = webhook!.webhookId;
    await admin.registry.registerAgent({ agentName: name('failing'), owner });
    await hook.until((got) => got.length >= DISABLE_AFTER);
    const disabled = await eventually(async () => (await admin.webhooks.listWebhooks({ owner })).webhooks.find((w) => !w.enabled));
    expect(disabled).toMatchObject({ webhookId, enabled: false, consecutiveFailures: DISABLE_AFTER, disabledReason: `${DISABLE_AFTER} failed delivery attempts in a row; the last: HTTP 503` });
    expect(disabled.disabledAt).toBeDefined();
    const audit = await admin.registry.listAuditEvents({ eventType: 'webhook.disabled' });
    const event = audit.events.find((e) => (e.metadata as Json | undefined)?.['webhook_id'] === webhookId);
    expect(event).toMatchObject({ actor: 'system:webhooks', metadata: { owner, origin: hook.url, failures: DISABLE_AFTER, last_error: 'HTTP 503' } });

    await admin.registry.registerAgent({ agentName: name('unheard'), owner });
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(hook.received).toHaveLength(DISABLE_AFTER);
    const log = await admin.webhooks.listWebhookDeliveries({ webhookId });
    expect(log.deliveries.map((d) => d.statusCode)).toEqual(Array(DISABLE_AFTER).fill(503));
  }, 20_000);

  it("TestWebhook sends webhook.test now and answers with the receiver's status", async () => {
    const hook = await receiver(({ count }) => (count === 0 ? 202 : 418));
    const { webhook, secret } = await admin.webhooks.createWebhook({ owner: 'test-team', url: hook.url });
    const webhookId = webhook!.webhookId;
    const accepted = await admin.webhooks.testWebhook({ webhookId });
    expect(accepted.delivery).toMatchObject({ eventType: 'webhook.test', attempt: 1, statusCode: 202, succeeded: true, error: '' });
    expect(accepted.delivery?.eventId).toMatch(/^test_[0-9a-f]{24}$/);
    const [got] = hook.received;
    expect(got?.headers['webhook-id']).toBe(accepted.delivery?.eventId);
    expect(verificationFailure(secret, got!.headers, got!.body)).toBeUndefined();
    expect(JSON.parse(got!.body)).toMatchObject({ type: 'webhook.test', data: { webhook_id: webhookId, owner: 'test-team' } });

    const refused = await admin.webhooks.testWebhook({ webhookId });
    expect(refused.delivery).toMatchObject({ statusCode: 418, succeeded: false, error: 'HTTP 418' });
    // Over REST too; a test counts neither for nor against disabling.
    const rest = await fetch(`${base}/v1/webhooks/${webhookId}/test`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' }, body: '{}' });
    expect(await rest.json()).toMatchObject({ event_type: 'webhook.test', status_code: 418, succeeded: false });
    expect((await admin.webhooks.listWebhooks({ owner: 'test-team' })).webhooks[0]).toMatchObject({ enabled: true, consecutiveFailures: 0 });
    expect((await admin.webhooks.listWebhookDeliveries({ webhookId })).deliveries.map((d) => d.statusCode)).toEqual([418, 418, 202]);

    await hook.close();
    const down = await admin.webhooks.testWebhook({ webhookId });
    expect(down.delivery).toMatchObject({ statusCode: 0, succeeded: false, error: 'ECONNREFUSED' });
  });

  it('does not follow a redirect: the attempt fails and the other address hears nothing', async () => {
    const elsewhere = await receiver();
    const hook = await receiver(() => ({ status: 307, headers: { location: `${elsewhere.url}/moved` } }));
    const { webhook } = await admin.webhooks.createWebhook({ owner: 'redirect-team', url: hook.url });
    const { delivery } = await admin.webhooks.testWebhook({ webhookId: webhook!.webhookId });
    expect(delivery).toMatchObject({ statusCode: 307, succeeded: false, error: 'HTTP 307: redirects are not followed' });
    expect(hook.received).toHaveLength(1);
    expect(elsewhere.received).toEqual([]);
  });

  it('shows the secret once: ListWebhooks, REST and DeleteWebhook never carry it', async () => {
    const hook = await receiver();
    const { webhook, secret } = await admin.webhooks.createWebhook({ owner: 'secret-team', url: hook.url });
    const webhookId = webhook!.webhookId;
    const listed = await admin.webhooks.listWebhooks({ owner: 'secret-team' });
    expect(listed.webhooks.map((w) => w.webhookId)).toEqual([webhookId]);
    expect(toJsonString(ListWebhooksResponseSchema, listed)).not.toContain('whsec_');
    const rest = await (await fetch(`${base}/v1/webhooks?owner=secret-team`, { headers: { authorization: `Bearer ${adminKey}` } })).text();
    expect(rest).toContain(webhookId);
    expect(rest).not.toContain('whsec_');
    expect(rest).not.toContain(secret.slice(6));
    const deleted = await fetch(`${base}/v1/webhooks/${webhookId}`, { method: 'DELETE', headers: { authorization: `Bearer ${adminKey}` } });
    const body = await deleted.text();
    expect(deleted.status).toBe(200);
    expect(JSON.parse(body)).toMatchObject({ webhook_id: webhookId, owner: 'secret-team' });
    expect(body).not.toContain('whsec_');
    expect((await admin.webhooks.listWebhooks({ owner: 'secret-team' })).webhooks).toEqual([]);
    expect((await rpcError(admin.webhooks.deleteWebhook({ webhookId }))).code).toBe(Code.NotFound);
    const audit = await admin.registry.listAuditEvents({ eventType: 'webhook.created' });
    const created = audit.events.find((e) => (e.metadata as Json | undefined)?.['webhook_id'] === webhookId);
    expect(created).toBeDefined();
    expect(JSON.stringify(created?.metadata)).not.toContain('whsec_');
  });

  it("keeps an owner key to its own owner's webhooks, and readers out", async () => {
    const hook = await receiver();
    const ownerKey = (await admin.keys.createApiKey({ role: ApiKeyRole.OWNER, owner: 'team-own' })).secret;
    const readerKey = (await admin.keys.createApiKey({ role: ApiKeyRole.READER })).secret;
    const own = createRegistryClient({ baseUrl: base, apiKey: ownerKey });
    const reader = createRegistryClient({ baseUrl: base, apiKey: readerKey });
    const theirs = await admin.webhooks.createWebhook({ owner: 'team-other', url: hook.url });

    const mine = await own.webhooks.createWebhook({ owner: '', url: hook.url });
    expect(mine.webhook?.owner).toBe('team-own');
    expect((await own.webhooks.listWebhooks({})).webhooks.map((w) => w.webhookId)).toEqual([mine.webhook?.webhookId]);

    const createForOther = await rpcError(own.webhooks.createWebhook({ owner: 'team-other', url: hook.url }));
    expect(createForOther.code).toBe(Code.PermissionDenied);
    expect(createForOther.rawMessage).toBe('owner: this key manages webhooks only for owner "team-own"');
    expect((await rpcError(own.webhooks.listWebhooks({ owner: 'team-other' }))).code).toBe(Code.PermissionDenied);
    const otherId = theirs.webhook!.webhookId;
    // One call at a time: a refusal that arrives while another is awaited would be an unhandled rejection.
    for (const call of [
      () => own.webhooks.deleteWebhook({ webhookId: otherId }),
      () => own.webhooks.testWebhook({ webhookId: otherId }),
      () => own.webhooks.listWebhookDeliveries({ webhookId: otherId }),
    ]) {
      expect((await rpcError(call())).code).toBe(Code.PermissionDenied);
    }
    expect((await rpcError(reader.webhooks.listWebhooks({}))).code).toBe(Code.PermissionDenied);
    expect((await rpcError(createRegistryClient({ baseUrl: base }).webhooks.listWebhooks({}))).code).toBe(Code.Unauthenticated);
    // The admin sees every owner's unless it names one.
    const all = (await admin.webhooks.listWebhooks({})).webhooks.map((w) => w.owner);
    expect(all).toEqual(expect.arrayContaining(['team-own', 'team-other']));
    expect((await rpcError(admin.webhooks.createWebhook({ owner: '', url: hook.url }))).rawMessage).toMatch(/^owner: is required/);
    expect(hook.received).toEqual([]);
  });
});

async function eventually<T>(read: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
