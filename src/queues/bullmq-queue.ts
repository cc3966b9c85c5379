// The job queue on Redis with BullMQ, when REDIS_URL is set: a BullMQ queue per job name (so a process only ever
// takes jobs it has a handler for, even while a deploy rolls out a new kind), ids that make enqueueing idempotent,
// the registry's own backoff between attempts, and failed jobs kept as the dead letter until they are retried.
import { type Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { redisConnectionOptions } from '../cache/redis-client.ts';
import type { Logger } from '../log/logger.ts';
import { DEFAULT_ATTEMPTS, type JobFilter, type JobHandler, type JobOptions, type JobPayload, type JobQueue, type JobRecord, type JobState, backoffMs } from '../jobs/queue.ts';

// BullMQ's names for the states the registry reports.
const BULL_STATES: Record<JobState, 'wait' | 'delayed' | 'active' | 'completed' | 'failed'> = {
  waiting: 'wait',
  delayed: 'delayed',
  active: 'active',
  completed: 'completed',
  failed: 'failed',
};

const CLOSE_WAIT_MS = 5_000;

/** Waits for `work`, or `ms` at most; what is left is abandoned (the connections are cut next). */
async function within(ms: number, work: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

export interface BullmqQueueOptions {
  readonly redisUrl: string;
  /** Keys are `<prefix>:<job name>:...`; registries sharing a Redis keep their jobs apart by prefix. */
  readonly prefix: string;
  /** The job names list, get and retry look through besides those this object enqueued or works. */
  readonly names?: readonly string[];
  readonly logger?: Logger;
}

export class BullmqQueue implements JobQueue {
  readonly kind = 'redis';
  private readonly connection: Redis;
  private readonly queues = new Map<string, Queue>();
  private readonly workers: Worker[] = [];

  constructor(private readonly options: BullmqQueueOptions) {
    // Blocking commands wait as long as they need: BullMQ requires maxRetriesPerRequest null for its workers.
    this.connection = new Redis(options.redisUrl, { ...redisConnectionOptions, maxRetriesPerRequest: null });
    this.connection.on('error', () => undefined);
    for (const name of options.names ?? []) this.queueFor(name);
  }

  private queueFor(name: string): Queue {
    let queue = this.queues.get(name);
    if (queue === undefined) {
      queue = new Queue(name, { connection: this.connection, prefix: this.options.prefix });
      queue.on('error', () => undefined);
      this.queues.set(name, queue);
    }
    return queue;
  }

  async enqueue(name: string, payload: JobPayload, options: JobOptions): Promise<void> {
    await this.queueFor(name).add(name, payload, {
      jobId: options.jobId,
      attempts: options.attempts ?? DEFAULT_ATTEMPTS,
      backoff: { type: 'registry' },
      ...(options.delayMs !== undefined && options.delayMs > 0 && { delay: options.delayMs }),
      // Completed jobs are kept a day (their ids keep enqueueing idempotent), failed ones until retried.
      removeOnComplete: { age: 24 * 3600 },
      removeOnFail: false,
    });
  }

  work(name: string, handler: JobHandler, concurrency = 1): void {
    this.queueFor(name);
    // Workers block on a connection of their own; its outages are the shared connection's, reported by readiness.
    const connection = this.connection.duplicate();
    connection.on('error', () => undefined);
    const worker = new Worker(name, async (job: Job) => handler(job.data as JobPayload, { id: String(job.id), attempt: job.attemptsStarted }), {
      connection,
      prefix: this.options.prefix,
      concurrency,
      settings: { backoffStrategy: (attemptsMade: number) => backoffMs(attemptsMade) },
    });
    worker.on('error', (error) => this.options.logger?.warn({ err: error }, 'job queue: the Redis worker failed; it reconnects by itself'));
    worker.on('failed', (job, error) => {
      const final = job !== undefined && job.attemptsMade >= (job.opts.attempts ?? 1);
      this.options.logger?.warn({ job: job?.id, name, attempt: job?.attemptsMade, err: error }, final ? 'job failed for good' : 'job failed; it will be retried');
    });
    this.workers.push(worker);
  }

  async list(filter: JobFilter): Promise<JobRecord[]> {
    const states = filter.state === undefined ? Object.values(BULL_STATES) : [BULL_STATES[filter.state]];
    const queues = filter.name === undefined ? [...this.queues.values()] : [this.queueFor(filter.name)];
    const jobs = (await Promise.all(queues.map((queue) => queue.getJobs(states, 0, filter.limit - 1)))).flat();
    const found = jobs.filter((job): job is Job => job !== undefined).sort((a, b) => b.timestamp - a.timestamp);
    return Promise.all(found.slice(0, filter.limit).map((job) => toRecord(job, this.queueFor(job.name))));
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const job = await this.find(id);
    return job === undefined ? undefined : toRecord(job, this.queueFor(job.name));
  }

  async retry(id: string): Promise<JobRecord | undefined> {
    const job = await this.find(id);
    if (job === undefined) return undefined;
    if ((await job.getState()) === 'failed') await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    return this.get(id);
  }

  /**
   * Lets running jobs finish, then disconnects. While Redis is unreachable BullMQ's own close waits for a connection
   * that may never come, so then workers are closed by force and nothing waits longer than CLOSE_WAIT_MS.
   */
  async close(): Promise<void> {
    const force = this.connection.status !== 'ready';
    await within(CLOSE_WAIT_MS, Promise.all(this.workers.map((worker) => worker.close(force))));
    await within(CLOSE_WAIT_MS, Promise.all([...this.queues.values()].map((queue) => queue.close())));
    for (const worker of this.workers) void worker.disconnect().catch(() => undefined);
    this.connection.disconnect();
  }

  /** The job with this id in any queue this object knows. */
  private async find(id: string): Promise<Job | undefined> {
    for (const queue of this.queues.values()) {
      const job = await queue.getJob(id);
      if (job !== undefined) return job;
    }
    return undefined;
  }
}

async function toRecord(read: Job, queue: Queue): Promise<JobRecord> {
  const state = await read.getState();
  // The job may have finished between reading it and reading its state: then read it again, so that the record
  // never shows a finished state with the attempts and times of before.
  const finished = state === 'completed' || state === 'failed';
  const job = finished && read.finishedOn === undefined ? ((await queue.getJob(String(read.id))) ?? read) : read;
  return {
    id: String(job.id),
    name: job.name,
    payload: job.data as JobPayload,
    state: state === 'active' || state === 'delayed' || state === 'completed' || state === 'failed' ? state : 'waiting',
    attempts: job.attemptsMade,
    maxAttempts: job.opts.attempts ?? 1,
    lastError: job.failedReason ?? '',
    runAt: new Date(job.timestamp + (job.opts.delay ?? 0)),
    createdAt: new Date(job.timestamp),
    finishedAt: job.finishedOn === undefined ? undefined : new Date(job.finishedOn),
  };
}
