// Webhooks in a registry process: management for WebhookService on every process; with WORKERS_ENABLED, the
// delivery workers and the dispatcher (which runs on one process at a time, under its lease).
import type { Config } from '../config/schema.ts';
import { SqlWebhookStore } from '../db/webhook-store.ts';
import type { Database } from '../db/orm.ts';
import type { JobQueue } from '../jobs/queue.ts';
import type { Logger } from '../log/logger.ts';
import type { EventFeed } from '../registry/event-feed.ts';
import { DELIVERY_JOB } from '../webhooks/delivery-job.ts';
import { WebhookDispatcher } from '../webhooks/dispatcher.ts';
import { TargetGuard } from '../webhooks/target-guard.ts';
import { Webhooks } from '../webhooks/webhooks.ts';

export interface WebhookSending {
  readonly webhooks: Webhooks;
  close(): Promise<void>;
}

/** Deliveries made at once by one process; one endpoint still gets one at a time (Webhooks serializes them). */
const DELIVERY_CONCURRENCY = 16;

export function createWebhookSending(config: Config, database: Database, events: EventFeed, queue: JobQueue, logger: Logger): WebhookSending {
  const store = new SqlWebhookStore(database);
  const webhooks = new Webhooks({
    store,
    guard: new TargetGuard({ allowPrivate: config.webhookAllowPrivate }),
    disableAfterFailures: config.webhookDisableAfterFailures,
  });
  let dispatcher: WebhookDispatcher | undefined;
  if (config.workersEnabled) {
    queue.work(DELIVERY_JOB, (payload, job) => webhooks.deliver(payload, job), DELIVERY_CONCURRENCY);
    dispatcher = new WebhookDispatcher({ store, webhooks: store, feed: events, queue, logger });
    dispatcher.start();
  }
  return {
    webhooks,
    async close() {
      webhooks.stop();
      await dispatcher?.stop();
    },
  };
}
