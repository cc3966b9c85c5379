// The lifecycle happens by itself: with 6-second certificates and a sweep every second, an agent gets its renewal
// reminder (agent.expiring) past half its validity and is recorded as expired when its certificate lapses — audit
// event and log leaf at that moment, once each, even with two registry processes sweeping the same database; a
// revoked agent gets neither, and a rotated one is reminded afresh for its new certificate.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../src/server/app.ts';
import { LIFECYCLE_ACTOR } from '../../src/jobs/lifecycle.ts';
import { dialects } from '../support/databases.ts';
import { testEnvironment } from '../support/server.ts';

const VALIDITY_SECONDS = 6;

describe.each(dialects)('the lifecycle sweep on %s, two processes', (dialect) => {
  let apps: App[];
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const environment = await testEnvironment(dialect, {
      certValiditySeconds: VALIDITY_SECONDS,
      lifecycleIntervalSeconds: 1,
      renewalReminderPercent: 50,
      jobsPollMs: 100,
      redisEnabled: false,
    });
    apps = [await createApp(environment.config), await createApp(environment.config)];
    cleanup = async () => {
      for (const app of apps) await app.close();
      await environment.cleanup();
    };
  });
  afterAll(() => cleanup());

  const events = async (agentName: string) =>
    (await apps[0]!.store.listAuditEvents({ agentName }, { limit: 100 })).events.filter((e) => e.eventType === 'agent.expiring' || e.eventType === 'agent.expired');

  async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await read();
      if (done(value) || Date.now() > deadline) return value;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('reminds at half the validity and records the expiry when the certificate lapses, once each', async () => {
    const actor = 'key:test';
    const registered = await apps[0]!.registry.register({ agentName: 'lapsing.jobs.example', owner: 'team', capabilities: [], description: '', endpoints: [], csrPem: '' }, actor);
    const notAfter = registered.agent.certificate!.notAfter;
    const reminded = await until(() => events('lapsing.jobs.example'), (e) => e.length >= 1, 10_000);
    expect(reminded.map((e) => e.eventType)).toEqual(['agent.expiring']);
    expect(reminded[0]!.createdAt.getTime()).toBeLessThan(notAfter.getTime());
    expect(reminded[0]!.actor).toBe(LIFECYCLE_ACTOR);

    const recorded = await until(() => events('lapsing.jobs.example'), (e) => e.length >= 2, 15_000);
    expect(recorded.map((e) => e.eventType).sort()).toEqual(['agent.expired', 'agent.expiring']);
    const expired = recorded.find((e) => e.eventType === 'agent.expired')!;
    expect(expired.createdAt.getTime()).toBeGreaterThanOrEqual(notAfter.getTime());
    expect(expired.createdAt.getTime() - notAfter.getTime()).toBeLessThan(5_000);
    expect(expired.metadata).toMatchObject({ cert_fingerprint: registered.agent.certificate!.fingerprint });

    // Several more sweeps by both processes record nothing again.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect((await events('lapsing.jobs.example')).length).toBe(2);
    const leaves = (await apps[0]!.log!.listEntries({ agentName: 'lapsing.jobs.example' }, undefined, 10)).map((entry) => entry.eventType);
    expect(leaves).toEqual(['agent.registered', 'agent.expiring', 'agent.expired']);
  }, 40_000);

  it('records nothing for a revoked agent, and reminds a rotated one for its new certificate', async () => {
    const actor = 'key:test';
    const input = { owner: 'team', capabilities: [], description: '', endpoints: [], csrPem: '' };
    await apps[0]!.registry.register({ ...input, agentName: 'revoked.jobs.example' }, actor);
    await apps[0]!.registry.revoke({ agentName: 'revoked.jobs.example', reason: 'keyCompromise', expectedVersion: 0 }, actor);
    const first = await apps[0]!.registry.register({ ...input, agentName: 'rotated.jobs.example' }, actor);
    await until(() => events('rotated.jobs.example'), (e) => e.length >= 1, 10_000);
    const rotated = await apps[1]!.registry.rotate({ agentName: 'rotated.jobs.example', csrPem: '', expectedVersion: 0 }, actor);
    const reminders = await until(() => events('rotated.jobs.example'), (e) => e.filter((x) => x.eventType === 'agent.expiring').length >= 2, 10_000);
    expect(reminders.filter((e) => e.eventType === 'agent.expiring').map((e) => e.metadata['cert_fingerprint']).sort()).toEqual(
      [first.agent.certificate!.fingerprint, rotated.agent.certificate!.fingerprint].sort(),
    );
    // The first certificate was superseded, not lapsed: no expiry for it.
    expect(reminders.filter((e) => e.eventType === 'agent.expired' && e.metadata['cert_fingerprint'] === first.agent.certificate!.fingerprint)).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, (VALIDITY_SECONDS + 1) * 1000));
    expect(await events('revoked.jobs.example')).toEqual([]);
  }, 40_000);
});
