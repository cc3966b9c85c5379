import { afterEach, describe, expect, it } from 'vitest';
import { type AuditPruneStore, VerificationRetention } from '../../src/audit/verification-retention.ts';
import { openDatabase } from '../../src/db/orm.ts';
import { SqlRegistryStore } from '../../src/db/registry-store.ts';
import type { AuditEventType } from '../../src/registry/records.ts';
import { createTestDatabase, dialects, type TestDatabase } from '../support/databases.ts';

const DAY_MS = 86_400_000;

describe.each(dialects)('VerificationRetention with the SQL store on %s', (dialect) => {
  let database: TestDatabase | undefined;
  const stores: SqlRegistryStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    await database?.drop();
  });

  /** One more process on the test database. */
  const anotherProcess = async () => {
    const store = await SqlRegistryStore.open(await openDatabase(database?.url ?? ''));
    stores.push(store);
    return store;
  };

  it('deletes old verification events in batches, from two processes at once, each row once', async () => {
    database = await createTestDatabase(dialect);
    const [first, second] = [await anotherProcess(), await anotherProcess()];
    const now = Date.now();
    const append = (eventType: AuditEventType, agentName: string, ageMs: number) =>
      first.appendAudit({ eventType, actor: 'test', agentName, metadata: {} }, new Date(now - ageMs));
    await Promise.all([
      ...Array.from({ length: 25 }, (_, i) => append('cert.verified', `old-${i}.example`, 2 * DAY_MS + i * 60_000)),
      append('cert.verified', 'recent.example', DAY_MS - 60_000),
      append('agent.registered', 'old.example', 30 * DAY_MS),
      append('auth.denied', 'old.example', 30 * DAY_MS),
    ]);
    const options = { retentionDays: 1, intervalMs: 3_600_000, batchSize: 4, now: () => new Date(now) };
    const pruners = [new VerificationRetention({ ...options, store: first }), new VerificationRetention({ ...options, store: second })];

    const deleted = await Promise.all(pruners.map((pruner) => pruner.prune()));
    expect(deleted[0]! + deleted[1]!).toBe(25);
    expect(pruners[0]!.pruned + pruners[1]!.pruned).toBe(25);
    expect(await pruners[0]!.prune()).toBe(0);

    const { events } = await first.listAuditEvents({}, { limit: 100 });
    expect(events.map((event) => `${event.eventType} ${event.agentName}`).sort()).toEqual([
      'agent.registered old.example',
      'auth.denied old.example',
      'cert.verified recent.example',
    ]);
  });
});

describe('VerificationRetention scheduling', () => {
  /** A store that records when it is asked and deletes nothing. */
  const recordingStore = () => {
    const calls: { eventType: AuditEventType; before: Date }[] = [];
    const store: AuditPruneStore = {
      deleteAuditEventsBefore: async (eventType, before) => {
        calls.push({ eventType, before });
        return 0;
      },
    };
    return { calls, store };
  };
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('runs soon after start, then every interval, only for verification events, and not after stop', async () => {
    const { calls, store } = recordingStore();
    const now = new Date('2030-01-10T00:00:00Z');
    const retention = new VerificationRetention({ store, retentionDays: 3, intervalMs: 20, firstRunMs: 0, now: () => now });
    retention.start();
    await sleep(150);
    await retention.stop();
    const seen = calls.length;
    expect(seen).toBeGreaterThanOrEqual(3);
    expect(calls.every((call) => call.eventType === 'cert.verified')).toBe(true);
    expect(calls[0]?.before.toISOString()).toBe('2030-01-07T00:00:00.000Z');
    await sleep(60);
    expect(calls.length).toBe(seen);
  });

  it('refuses a retention of zero days, which means keeping events for ever', () => {
    expect(() => new VerificationRetention({ store: recordingStore().store, retentionDays: 0, intervalMs: 1000 })).toThrow(RangeError);
  });
});
