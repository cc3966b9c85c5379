// The background machinery of a registry process: the job queue (BullMQ when Redis is configured, else the
// database), and with WORKERS_ENABLED its workers and the periodic jobs (the lifecycle sweep). `atr serve` runs
// it beside the listeners; `atr worker` runs it alone.
import type { Config } from '../config/schema.ts';
import type { Database } from '../db/orm.ts';
import { SqlJobStore } from '../db/job-store.ts';
import { SqlLifecycleStore } from '../db/lifecycle-store.ts';
import { DatabaseQueue } from '../jobs/database-queue.ts';
import { Lifecycle } from '../jobs/lifecycle.ts';
import type { JobQueue } from '../jobs/queue.ts';
import { Scheduler } from '../jobs/scheduler.ts';
import type { Logger } from '../log/logger.ts';
import { BullmqQueue } from '../queues/bullmq-queue.ts';
import { Journal } from '../registry/journal.ts';
import type { Registry } from '../registry/registry.ts';

export interface BackgroundJobs {
  readonly queue: JobQueue;
  readonly lifecycle: Lifecycle;
  /** Puts an accepted operation's job in the queue (Registry's onAccepted). */
  enqueueOperation(operationId: string): Promise<void>;
  /** With WORKERS_ENABLED: runs operations' jobs in this process, and re-queues any whose job was lost. */
  runOperations(registry: Registry): void;
  close(): Promise<void>;
}

export const LIFECYCLE_SWEEP = 'lifecycle.sweep';
export const OPERATION_RUN = 'operation.run';
const OPERATION_ATTEMPTS = 5;
/**
 * Operations a worker process runs at once: their database round trips overlap (on PostgreSQL most of an operation
 * is waiting for them), while the one transaction that records each keeps them exactly once.
 */
const OPERATION_CONCURRENCY = 8;
/** How long an operation that ended stays readable. */
const OPERATION_KEEP_MS = 7 * 24 * 3600_000;

export function createBackgroundJobs(config: Config, database: Database, log: { notify(): void } | undefined, logger: Logger): BackgroundJobs {
  const queue: JobQueue =
    config.redisUrl !== undefined && config.redisEnabled
      ? new BullmqQueue({ redisUrl: config.redisUrl, prefix: `atr:${config.trustDomain}`, names: [LIFECYCLE_SWEEP, OPERATION_RUN], logger })
      : new DatabaseQueue(new SqlJobStore(database), { pollMs: config.jobsPollMs, leaseMs: config.jobsLeaseSeconds * 1000, logger });
  const perTransaction = database.dialect === 'postgresql' ? 20 : 1;
  const lifecycle = new Lifecycle(new SqlLifecycleStore(database), new Journal(log), config.renewalReminderPercent / 100, perTransaction);
  const scheduler = new Scheduler(queue, [{ name: LIFECYCLE_SWEEP, everyMs: config.lifecycleIntervalSeconds * 1000 }], logger);
  let requeue: (() => Promise<void>) | undefined;
  if (config.workersEnabled) {
    queue.work(LIFECYCLE_SWEEP, async () => {
      await requeue?.();
      const recorded = await lifecycle.sweep();
      if (recorded.expired + recorded.expiring > 0) logger.info(recorded, 'lifecycle: recorded expirations and renewal reminders');
    });
    scheduler.start();
  }
  const enqueueOperation = (operationId: string) =>
    queue.enqueue(OPERATION_RUN, { operation_id: operationId }, { jobId: `operation@${operationId}`, attempts: OPERATION_ATTEMPTS });
  return {
    queue,
    lifecycle,
    enqueueOperation,
    runOperations(registry) {
      if (!config.workersEnabled) return;
      queue.work(OPERATION_RUN, async (payload, job) => {
        await registry.runOperation(String(payload['operation_id']), job.attempt >= OPERATION_ATTEMPTS);
      }, OPERATION_CONCURRENCY);
      requeue = async () => {
        // Still pending a sweep interval after it was accepted: its job may have been lost (a crash before it was
        // queued). Queueing it again is harmless when it was not: the job id is the same.
        const acceptedBefore = new Date(Date.now() - config.lifecycleIntervalSeconds * 1000);
        for (const id of await registry.pendingOperations(acceptedBefore)) await enqueueOperation(id);
        await registry.pruneOperations(new Date(Date.now() - OPERATION_KEEP_MS));
      };
    },
    async close() {
      scheduler.stop();
      await queue.close();
    },
  };
}
