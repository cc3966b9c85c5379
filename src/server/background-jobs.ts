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

export interface BackgroundJobs {
  readonly queue: JobQueue;
  readonly lifecycle: Lifecycle;
  close(): Promise<void>;
}

export const LIFECYCLE_SWEEP = 'lifecycle.sweep';

export function createBackgroundJobs(config: Config, database: Database, log: { notify(): void } | undefined, logger: Logger): BackgroundJobs {
  const queue: JobQueue =
    config.redisUrl !== undefined && config.redisEnabled
      ? new BullmqQueue({ redisUrl: config.redisUrl, prefix: `atr:${config.trustDomain}`, names: [LIFECYCLE_SWEEP], logger })
      : new DatabaseQueue(new SqlJobStore(database), { pollMs: config.jobsPollMs, logger });
  const lifecycle = new Lifecycle(new SqlLifecycleStore(database), new Journal(log), config.renewalReminderPercent / 100);
  const scheduler = new Scheduler(queue, [{ name: LIFECYCLE_SWEEP, everyMs: config.lifecycleIntervalSeconds * 1000 }], logger);
  if (config.workersEnabled) {
    queue.work(LIFECYCLE_SWEEP, async () => {
      const recorded = await lifecycle.sweep();
      if (recorded.expired + recorded.expiring > 0) logger.info(recorded, 'lifecycle: recorded expirations and renewal reminders');
    });
    scheduler.start();
  }
  return {
    queue,
    lifecycle,
    async close() {
      scheduler.stop();
      await queue.close();
    },
  };
}
