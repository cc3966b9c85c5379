import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import type { Logger } from '../../src/log/logger.ts';
import { type App, createApp } from '../../src/server/app.ts';
import { dialects } from '../support/databases.ts';
import { type LoggedLine, recordingLogger } from '../support/logger.ts';
import { eventWithin } from '../support/revocations.ts';
import { type TestEnvironment, testEnvironment } from '../support/server.ts';

const redisUrl = 'redis://127.0.0.1:6379';

/** Two registry processes on one database; a trust domain of their own keeps their channel apart from other runs. */
async function twoApps(dialect: (typeof dialects)[number], overrides: Partial<Config>, logger?: Logger) {
  const trustDomain = `redis-${randomBytes(6).toString('hex')}.test`;
  const environment: TestEnvironment = await testEnvironment(dialect, { trustDomain, ...overrides });
  const a = await createApp(environment.config, logger);
  const b = await createApp(environment.config, logger);
  return {
    a,
    b,
    channel: `atr:${trustDomain}:revocations`,
    async close() {
      await a.close();
      await b.close();
      await environment.cleanup();
    },
  };
}

/** Registers an agent through `app` and returns its name and certificate fingerprint. */
async function registered(app: App, label: string): Promise<{ name: string; fingerprint: string }> {
  const result = await app.registry.register({ agentName: `${label}-${randomBytes(4).toString('hex')}.example`, owner: 'o', capabilities: [] }, 'test');
  return { name: result.agent.name, fingerprint: result.agent.certificate!.fingerprint };
}

describe('REDIS_URL and REVOCATION_POLL_MS settings', () => {
  it('accept redis:// and rediss:// URLs and a poll interval from 50 ms to 60 s', () => {
    expect(loadConfig({ REDIS_URL: 'rediss://user:pw@cache.internal:6380/2' }, '/nonexistent/.env').redisUrl).toBe('rediss://user:pw@cache.internal:6380/2');
    expect(loadConfig({}, '/nonexistent/.env')).toMatchObject({ redisUrl: undefined, revocationPollMs: 250 });
    expect(loadConfig({ REVOCATION_POLL_MS: '5000' }, '/nonexistent/.env').revocationPollMs).toBe(5000);
  });

  it('refuse other URLs and intervals, without echoing the URL', () => {
    expect(() => loadConfig({ REDIS_URL: 'http://secret@cache:6379' }, '/nonexistent/.env')).toThrow(/REDIS_URL=\(secret\): must be a redis:\/\//);
    expect(() => loadConfig({ REVOCATION_POLL_MS: '10' }, '/nonexistent/.env')).toThrow(/REVOCATION_POLL_MS="10": must be a whole number from 50 to 60000/);
  });
});

describe.each(dialects)('revocations across processes on %s', (dialect) => {
  describe('with Redis and a 60 s database poll', () => {
    let apps: Awaited<ReturnType<typeof twoApps>>;
    beforeAll(async () => {
      apps = await twoApps(dialect, { redisUrl, revocationPollMs: 60_000 });
      // Both feeds have subscribed before anything is measured.
      const probe = new Redis(redisUrl);
      try {
        await vi.waitFor(async () => {
          const [, count] = (await probe.pubsub('NUMSUB', apps.channel)) as [string, number];
          expect(count).toBe(2);
        }, { timeout: 5_000, interval: 20 });
      } finally {
        probe.disconnect();
      }
    });
    afterAll(async () => {
      await apps?.close();
    });

    it('delivers a revoke made through one process to the feed of the other within a second', async () => {
      const agent = await registered(apps.a, 'pushed');
      const arrived = eventWithin(apps.b, agent.fingerprint, 1_000);
      await apps.a.registry.revoke({ agentName: agent.name, reason: 'keyCompromise' }, 'test');
      expect(await arrived).toMatchObject({ agentName: agent.name, reason: 'keyCompromise' });
    });

    it('delivers a rotation the same way', async () => {
      const agent = await registered(apps.b, 'rotated');
      const arrived = eventWithin(apps.a, agent.fingerprint, 1_000);
      await apps.b.registry.rotate({ agentName: agent.name }, 'test');
      expect(await arrived).toMatchObject({ agentName: agent.name, reason: 'superseded' });
    });
  });

  describe('without Redis and a 60 s database poll', () => {
    let apps: Awaited<ReturnType<typeof twoApps>>;
    beforeAll(async () => {
      apps = await twoApps(dialect, { revocationPollMs: 60_000 });
    });
    afterAll(async () => {
      await apps?.close();
    });

    it('does not deliver to the other process within a second (the tests above measure the Redis path)', async () => {
      const agent = await registered(apps.a, 'unpushed');
      const arrivedA = eventWithin(apps.a, agent.fingerprint, 1_000);
      const arrivedB = eventWithin(apps.b, agent.fingerprint, 1_000);
      await apps.a.registry.revoke({ agentName: agent.name, reason: 'keyCompromise' }, 'test');
      // The process that made the change still sees it at once.
      expect(await arrivedA).toMatchObject({ agentName: agent.name });
      expect(await arrivedB).toBeUndefined();
    });
  });

  describe('with Redis unreachable', () => {
    let apps: Awaited<ReturnType<typeof twoApps>>;
    let lines: LoggedLine[];
    beforeAll(async () => {
      const recording = recordingLogger();
      lines = recording.lines;
      apps = await twoApps(dialect, { redisUrl: 'redis://127.0.0.1:1', revocationPollMs: 100 }, recording.logger);
    });
    afterAll(async () => {
      await apps?.close();
    });

    it('still registers and revokes, and the database poll still delivers', async () => {
      const agent = await registered(apps.a, 'polled');
      const arrived = eventWithin(apps.b, agent.fingerprint, 1_000);
      const started = performance.now();
      await apps.a.registry.revoke({ agentName: agent.name, reason: 'cessationOfOperation' }, 'test');
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(await arrived).toMatchObject({ agentName: agent.name, reason: 'cessationOfOperation' });
      expect((await apps.b.registry.get(agent.name)).state).toBe('revoked');
    });

    it('logs the outage once per process, not once per reconnect attempt', async () => {
      // By now each client has retried several times (backoff from 100 ms).
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const outages = lines.filter((line) => line.message.startsWith('redis unreachable'));
      expect(outages).toHaveLength(2);
    });
  });
});
