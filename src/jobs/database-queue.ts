// The job queue on the registry's own database, for the embedded default (no Redis): jobs survive a restart, many
// processes share them (a worker takes a job with one conditional update and holds it under a lease it keeps
// renewing), and a job whose worker died is taken again once its lease runs out.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log/logger.ts';
import type { JobStore } from './job-store.ts';
import { DEFAULT_ATTEMPTS, type JobFilter, type JobHandler, type JobOptions, type JobPayload, type JobQueue, backoffMs } from './queue.ts';

export interface DatabaseQueueOptions {
  /** How often idle workers look for due jobs (enqueueing in this process wakes them at once). */
  readonly pollMs: number;
  /** How long a worker holds a job before another may take it; renewed every third of it while the job runs. */
  readonly leaseMs?: number;
  /** How long completed jobs are kept (their ids keep enqueueing idempotent meanwhile). */
  readonly keepCompletedMs?: number;
  readonly logger?: Logger;
}

const CLOSE_WAIT_MS = 5_000;

export class DatabaseQueue implements JobQueue {
  readonly kind = 'database';
  private readonly worker = `${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly handlers = new Map<string, { handler: JobHandler; concurrency: number; running: number }>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private closed = false;
  private readonly running = new Set<Promise<void>>();
  private lastPrune = 0;

  constructor(
    private readonly store: JobStore,
    private readonly options: DatabaseQueueOptions,
  ) {}

  private get leaseMs(): number {
    return this.options.leaseMs ?? 30_000;
  }

  async enqueue(name: string, payload: JobPayload, options: JobOptions): Promise<void> {
    const now = new Date();
    await this.store.insert(
      { id: options.jobId, name, payload, maxAttempts: options.attempts ?? DEFAULT_ATTEMPTS, runAt: new Date(now.getTime() + (options.delayMs ?? 0)) },
      now,
    );
    if (this.handlers.has(name)) this.wake();
  }

  work(name: string, handler: JobHandler, concurrency = 1): void {
    this.handlers.set(name, { handler, concurrency, running: 0 });
    this.timer ??= setInterval(() => this.wake(), this.options.pollMs);
    this.wake();
  }

  list(filter: JobFilter) {
    return this.store.list(filter);
  }

  get(id: string) {
    return this.store.get(id);
  }

  retry(id: string) {
    const retried = this.store.retry(id, new Date());
    void retried.then(() => this.wake());
    return retried;
  }

  /** Stops taking jobs and lets running ones finish, for CLOSE_WAIT_MS at most (a job stuck on a lost database is left to its lease). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.running]), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
  }

  private wake(): void {
    if (this.polling || this.closed) return;
    this.polling = true;
    void this.poll()
      .catch((error: unknown) => this.options.logger?.warn({ err: error }, 'job queue: polling the database failed; trying again'))
      .finally(() => {
        this.polling = false;
      });
  }

  /** Takes due jobs while some handler has room. */
  private async poll(): Promise<void> {
    await this.prune();
    for (;;) {
      const names = [...this.handlers].filter(([, h]) => h.running < h.concurrency).map(([name]) => name);
      if (names.length === 0 || this.closed) return;
      const now = new Date();
      const job = await this.store.claim(names, this.worker, now, new Date(now.getTime() + this.leaseMs));
      if (job === undefined) return;
      const entry = this.handlers.get(job.name)!;
      entry.running += 1;
      const run = this.run(job.id, job.name, job.payload, job.attempts, job.maxAttempts, entry.handler).finally(() => {
        entry.running -= 1;
        this.running.delete(run);
        this.wake();
      });
      this.running.add(run);
    }
  }

  private async run(id: string, name: string, payload: JobPayload, attempt: number, maxAttempts: number, handler: JobHandler): Promise<void> {
    const heartbeat = setInterval(() => void this.store.extend(id, this.worker, new Date(Date.now() + this.leaseMs)).catch(() => undefined), this.leaseMs / 3);
    try {
      await handler(payload, { id, attempt });
      await this.store.complete(id, this.worker, new Date());
    } catch (error) {
      const now = new Date();
      const retryAt = attempt < maxAttempts ? new Date(now.getTime() + backoffMs(attempt)) : undefined;
      const message = error instanceof Error ? error.message : String(error);
      this.options.logger?.warn({ job: id, name, attempt, err: error }, retryAt ? 'job failed; it will be retried' : 'job failed for good');
      await this.store.fail(id, this.worker, message, retryAt, now).catch(() => {});
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async prune(): Promise<void> {
    const now = Date.now();
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    await this.store.pruneCompleted(new Date(now - (this.options.keepCompletedMs ?? 24 * 3600_000)));
  }
}
