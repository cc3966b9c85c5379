// The two job queues behave alike: BullMQ on the shared Redis and the database queue on SQLite and PostgreSQL.
// Idempotent enqueueing, retries with backoff, the dead letter and retry from it, jobs that outlive the process that
// enqueued them; and, for the database queue, a job whose worker died is run again once its lease runs out.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlJobStore } from '../../src/db/job-store.ts';
import { type Database, openDatabase } from '../../src/db/orm.ts';
import { DatabaseQueue } from '../../src/jobs/database-queue.ts';
import type { JobPayload, JobQueue, JobRecord } from '../../src/jobs/queue.ts';
import { BullmqQueue } from '../../src/queues/bullmq-queue.ts';
import { Scheduler } from '../../src/jobs/scheduler.ts';
import { type TestDatabase, createTestDatabase, dialects } from '../support/databases.ts';

interface QueueFactory {
  readonly label: string;
  setup(): Promise<void>;
  open(options?: { leaseMs?: number }): JobQueue;
  teardown(): Promise<void>;
}

function databaseQueues(dialect: (typeof dialects)[number]): QueueFactory {
  let test: TestDatabase;
  const opened: Database[] = [];
  let database: Database;
  return {
    label: `the database queue on ${dialect}`,
    async setup() {
      test = await createTestDatabase(dialect);
      database = await openDatabase(test.url);
      opened.push(database);
    },
    open: (options) => new DatabaseQueue(new SqlJobStore(database), { pollMs: 50, ...options }),
    async teardown() {
      for (const each of opened) await each.orm.close();
      await test.drop();
    },
  };
}

function redisQueues(): QueueFactory {
  const prefix = `atr-test:${randomUUID()}`;
  return {
    label: 'BullMQ on Redis',
    setup: async () => {},
    open: () => new BullmqQueue({ redisUrl: 'redis://127.0.0.1:6379', prefix }),
    teardown: async () => {},
  };
}

const factories = [...dialects.map(databaseQueues), redisQueues()];

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.each(factories)('$label', (factory) => {
  const queues: JobQueue[] = [];
  const open = (options?: { leaseMs?: number }) => {
    const queue = factory.open(options);
    queues.push(queue);
    return queue;
  };
  beforeAll(() => factory.setup());
  afterAll(async () => {
    for (const queue of queues) await queue.close();
    await factory.teardown();
  });

  it('runs a job once however often its id is enqueued', async () => {
    const queue = open();
    const runs: JobPayload[] = [];
    const id = `once-${randomUUID()}`;
    await queue.enqueue('test.once', { n: 1 }, { jobId: id });
    await queue.enqueue('test.once', { n: 2 }, { jobId: id });
    queue.work('test.once', async (payload) => {
      runs.push(payload);
    });
    await queue.enqueue('test.once', { n: 3 }, { jobId: id });
    const job = await until(() => queue.get(id), (j) => j?.state === 'completed');
    expect(job).toMatchObject({ id, name: 'test.once', state: 'completed', attempts: 1, payload: { n: 1 } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(runs).toEqual([{ n: 1 }]);
  });

  it('retries a failing job with backoff, then fails it for good and keeps it until retried', async () => {
    const queue = open();
    const attempts: { attempt: number; at: number }[] = [];
    let healthy = false;
    queue.work('test.flaky', async (_payload, job) => {
      attempts.push({ attempt: job.attempt, at: Date.now() });
      if (!healthy) throw new Error(`attempt ${job.attempt} failed`);
    });
    const id = `flaky-${randomUUID()}`;
    await queue.enqueue('test.flaky', {}, { jobId: id, attempts: 3 });
    const failed = await until(() => queue.get(id), (j) => j?.state === 'failed');
    expect(failed).toMatchObject({ state: 'failed', attempts: 3, maxAttempts: 3, lastError: 'attempt 3 failed' });
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    // 1 s, then 2 s between attempts (exponential).
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(900);
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(1900);
    expect((await queue.list({ state: 'failed', limit: 10 })).map((j: JobRecord) => j.id)).toContain(id);

    healthy = true;
    expect((await queue.retry(id))?.state).not.toBe('failed');
    const retried = await until(() => queue.get(id), (j) => j?.state === 'completed');
    expect(retried).toMatchObject({ state: 'completed', attempts: 1 });
  }, 30_000);

  it('keeps a job until a worker for it comes, in another queue object (another process)', async () => {
    const producer = open();
    const id = `later-${randomUUID()}`;
    await producer.enqueue('test.later', { from: 'producer' }, { jobId: id, delayMs: 200 });
    expect((await producer.get(id))?.state).toMatch(/^(delayed|waiting)$/);
    await producer.close();
    const consumer = open();
    const seen: JobPayload[] = [];
    consumer.work('test.later', async (payload) => {
      seen.push(payload);
    });
    await until(() => consumer.get(id), (j) => j?.state === 'completed');
    expect(seen).toEqual([{ from: 'producer' }]);
  });

  it('runs each periodic slot once, however many processes schedule it', async () => {
    const [a, b] = [open(), open()];
    const slots: number[] = [];
    for (const queue of [a, b]) {
      queue.work('test.periodic', async (payload) => {
        slots.push(Number(payload['slot']));
      });
    }
    const schedulers = [new Scheduler(a, [{ name: 'test.periodic', everyMs: 1000 }]), new Scheduler(b, [{ name: 'test.periodic', everyMs: 1000 }])];
    // The slot current when scheduling starts: measured before it, not guessed back from the end of the wait, which
    // a loaded machine stretches past 2.5 s.
    const first = Math.floor(Date.now() / 1000);
    for (const scheduler of schedulers) scheduler.start();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    for (const scheduler of schedulers) scheduler.stop();
    expect(slots.length).toBeGreaterThanOrEqual(1);
    expect(new Set(slots).size).toBe(slots.length);
    expect(slots.every((slot) => slot >= first)).toBe(true);
    expect((await a.list({ name: 'test.periodic', limit: 10 })).every((job) => /^test\.periodic@\d+$/.test(job.id))).toBe(true);
  });

  if (factory.label.startsWith('the database queue')) {
    it('leaves a job to the worker that holds it while it lives, and runs it again once that worker died', async () => {
      const holder = open({ leaseMs: 600 });
      const id = `held-${randomUUID()}`;
      let started!: () => void;
      let finish!: () => void;
      const running = new Promise<void>((resolve) => (started = resolve));
      holder.work('test.held', () => {
        started();
        return new Promise<void>((resolve) => (finish = resolve));
      });
      await holder.enqueue('test.held', {}, { jobId: id });
      await running;
      const other = open({ leaseMs: 600 });
      const attempts: number[] = [];
      other.work('test.held', async (_payload, job) => {
        attempts.push(job.attempt);
      });
      // The holder's heartbeat renews its lease: no one else runs the job meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(attempts).toEqual([]);
      expect((await other.get(id))?.state).toBe('active');
      finish();
      expect((await until(() => other.get(id), (j) => j?.state === 'completed'))?.attempts).toBe(1);

      // A worker that died (killed: it took the job and renews nothing) loses it when its lease runs out.
      const orphan = `orphan-${randomUUID()}`;
      await holder.enqueue('test.orphan', {}, { jobId: orphan });
      const store = (holder as unknown as { store: SqlJobStore }).store;
      const now = new Date();
      expect(await store.claim(['test.orphan'], 'killed-worker', now, new Date(now.getTime() + 800))).toMatchObject({ id: orphan, attempts: 1 });
      other.work('test.orphan', async (_payload, job) => {
        attempts.push(job.attempt);
      });
      const done = await until(() => other.get(orphan), (j) => j?.state === 'completed');
      expect(done?.attempts).toBe(2);
      expect(attempts).toEqual([2]);
    });
  }
});
