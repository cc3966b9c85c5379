import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RevocationEvent } from '../../src/registry/revocation-feed.ts';
import { type App, createApp } from '../../src/server/app.ts';
import { dialects } from '../support/databases.ts';
import { eventWithin } from '../support/revocations.ts';
import { type TestEnvironment, testEnvironment } from '../support/server.ts';

/** Resolves with the first event for `fingerprint`, or fails after `timeoutMs`. */
async function eventFor(app: App, fingerprint: string, timeoutMs = 5_000): Promise<RevocationEvent> {
  const event = await eventWithin(app, fingerprint, timeoutMs);
  if (!event) throw new Error(`no revocation event for ${fingerprint} within ${timeoutMs} ms`);
  return event;
}

describe.each(dialects)('revocation feed on %s', (dialect) => {
  let environment: TestEnvironment;
  let appA: App;
  let appB: App;
  beforeAll(async () => {
    environment = await testEnvironment(dialect);
    // Two registry processes on one database (for SQLite, one file) and one CA directory.
    appA = await createApp(environment.config);
    appB = await createApp(environment.config);
  });
  afterAll(async () => {
    await appA?.close();
    await appB?.close();
    await environment?.cleanup();
  });

  it('emits each revoke and rotation once, with its reason', async () => {
    const seen: RevocationEvent[] = [];
    const unsubscribe = appA.revocations.subscribe((event) => seen.push(event));
    try {
      const revoked = await appA.registry.register({ agentName: `revoked.feed.${dialect}.example`, owner: 'o', capabilities: [] }, 'test');
      const rotated = await appA.registry.register({ agentName: `rotated.feed.${dialect}.example`, owner: 'o', capabilities: [] }, 'test');
      const revokedFingerprint = revoked.agent.certificate!.fingerprint;
      const rotatedFingerprint = rotated.agent.certificate!.fingerprint;
      const revokedEvent = eventFor(appA, revokedFingerprint);
      const supersededEvent = eventFor(appA, rotatedFingerprint);
      await appA.registry.revoke({ agentName: revoked.agent.name, reason: 'keyCompromise' }, 'test');
      await appA.registry.rotate({ agentName: rotated.agent.name }, 'test');

      expect(await revokedEvent).toMatchObject({ agentName: revoked.agent.name, reason: 'keyCompromise', serial: revoked.agent.certificate!.serial });
      expect(await supersededEvent).toMatchObject({ agentName: rotated.agent.name, reason: 'superseded' });
      // Several more polls re-read the same overlap window: nothing may be emitted twice.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(seen.filter((event) => event.fingerprint === revokedFingerprint)).toHaveLength(1);
      expect(seen.filter((event) => event.fingerprint === rotatedFingerprint)).toHaveLength(1);
      const recent = await appA.revocations.recent(60);
      expect(recent.map((event) => event.fingerprint)).toEqual(expect.arrayContaining([revokedFingerprint, rotatedFingerprint]));
    } finally {
      unsubscribe();
    }
  });

  it('delivers a revoke made through one process to the feed of another within a second', async () => {
    const registered = await appA.registry.register({ agentName: `cross.feed.${dialect}.example`, owner: 'o', capabilities: [] }, 'test');
    const fingerprint = registered.agent.certificate!.fingerprint;
    const arrived = eventFor(appB, fingerprint);
    const started = performance.now();
    await appA.registry.revoke({ agentName: registered.agent.name, reason: 'keyCompromise' }, 'test');
    const event = await arrived;
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(event).toMatchObject({ agentName: registered.agent.name, reason: 'keyCompromise' });
  });
});
