// The dispatcher turns the event feed into delivery jobs. One process at a time dispatches (it holds a lease in the
// database and renews it); it follows the feed from the cursor saved in the database, enqueues one job per
// (webhook, event) under an id named after both, and saves the cursor past an event only once that event's jobs are
// enqueued. A dispatcher that dies between the two, or loses its lease to another process, leaves a cursor the next
// one resumes from: the jobs it enqueues again already exist, so nothing is delivered twice and nothing is skipped.
import { randomUUID } from 'node:crypto';
import type { JobQueue } from '../jobs/queue.ts';
import { type Logger, silentLogger } from '../log/logger.ts';
import type { EventFeed } from '../registry/event-feed.ts';
import type { EventFilter, FeedEvent } from '../registry/events.ts';
import { DELIVERY_ATTEMPTS, DELIVERY_JOB, deliveryJobId, deliveryPayload } from './delivery-job.ts';
import { eventMessage } from './message.ts';
import type { WebhookRecord, WebhookStore } from './store.ts';

/** Where the dispatch cursor and lease live: one row, changed by conditional updates. */
export interface DispatchStore {
  /** Takes the lease for `holder` (or renews it) until `until` unless another holds it; the saved cursor when held. */
  lease(holder: string, now: Date, until: Date): Promise<number | undefined>;
  /** Moves the cursor forward while `holder` holds the lease; false when it does not. */
  saveCursor(holder: string, cursor: number): Promise<boolean>;
  /** Gives the lease up, so another process takes over at once. */
  release(holder: string): Promise<void>;
}

export interface DispatcherOptions {
  readonly store: DispatchStore;
  readonly webhooks: Pick<WebhookStore, 'enabledOf' | 'pruneDeliveries'>;
  readonly feed: EventFeed;
  readonly queue: Pick<JobQueue, 'enqueue'>;
  /** How long the lease lasts unrenewed (renewed every third of it): how soon another process takes over. */
  readonly leaseMs?: number;
  /** How long the delivery log keeps an attempt. */
  readonly keepDeliveriesMs?: number;
  readonly logger?: Logger;
}

const EVERY_EVENT: EventFilter = { owner: undefined, agentNames: [], eventTypes: [] };
/** Quiet feeds still move the cursor (and let the loop notice a lost lease) this often. */
const HEARTBEAT_MS = 1_000;
const PRUNE_EVERY_MS = 3_600_000;
/** How often a busy feed's cursor is saved: how many events a takeover may enqueue again (their jobs exist). */
const SAVE_EVERY_MS = 250;

/** Whether the webhook receives the event: its owner's, of a type it asked for, and after the webhook was made. */
function receives(webhook: WebhookRecord, event: FeedEvent): boolean {
  return (
    webhook.owner === event.owner &&
    webhook.disabledAt === undefined &&
    event.id > webhook.fromEventId &&
    (webhook.eventTypes.length === 0 || webhook.eventTypes.includes(event.eventType))
  );
}

export class WebhookDispatcher {
  private readonly holder = `${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly stopped = new AbortController();
  private readonly leaseMs: number;
  private readonly logger: Logger;
  private running: Promise<void> | undefined;
  private lastPrune = 0;

  constructor(private readonly options: DispatcherOptions) {
    this.leaseMs = options.leaseMs ?? 15_000;
    this.logger = options.logger ?? silentLogger;
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Stops dispatching and gives the lease up. */
  async stop(): Promise<void> {
    this.stopped.abort();
    await this.running;
    await this.options.store.release(this.holder).catch(() => undefined);
  }

  private async run(): Promise<void> {
    const { signal } = this.stopped;
    while (!signal.aborted) {
      const cursor = await this.lease();
      if (cursor === undefined) await pause(this.leaseMs / 3, signal);
      else await this.follow(cursor);
    }
  }

  private async lease(): Promise<number | undefined> {
    const now = Date.now();
    try {
      return await this.options.store.lease(this.holder, new Date(now), new Date(now + this.leaseMs));
    } catch (error) {
      this.logger.warn({ err: error }, 'webhooks: cannot take the dispatch lease; trying again');
      return undefined;
    }
  }

  /** Dispatches from `cursor` while the lease holds: until it is lost, the dispatcher stops, or a step fails. */
  private async follow(cursor: number): Promise<void> {
    const held = new AbortController();
    const stop = () => held.abort();
    this.stopped.signal.addEventListener('abort', stop);
    const renew = setInterval(() => void this.lease().then((saved) => saved === undefined && held.abort()), this.leaseMs / 3);
    let saved = cursor;
    let savedAt = Date.now();
    let dispatched = cursor;
    try {
      for await (const message of this.options.feed.watch({ after: cursor, filter: EVERY_EVENT, heartbeatMs: HEARTBEAT_MS, signal: held.signal })) {
        if (message.event !== undefined) await this.dispatch(message.event);
        dispatched = message.position;
        // Saved on a quiet feed's heartbeat and at most every SAVE_EVERY_MS in a busy one, not once per event: a
        // dispatcher that resumes from an older cursor enqueues jobs that already exist, which changes nothing.
        const due = message.event === undefined || Date.now() - savedAt >= SAVE_EVERY_MS;
        if (message.position > saved && due) {
          if (!(await this.options.store.saveCursor(this.holder, message.position))) break;
          saved = message.position;
          savedAt = Date.now();
        }
        await this.pruneWhenDue();
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'webhooks: dispatching failed; resuming from the saved cursor');
    } finally {
      clearInterval(renew);
      this.stopped.signal.removeEventListener('abort', stop);
    }
    // What was dispatched since the last save is saved on the way out, so a stop leaves the exact cursor behind
    // (refused, and harmless, when the lease was lost meanwhile).
    if (dispatched > saved) await this.options.store.saveCursor(this.holder, dispatched).catch(() => false);
    // The watch ended without being asked to (the feed stopped) or failed: not at once again.
    if (!held.signal.aborted) await pause(1_000, this.stopped.signal);
  }

  /** Enqueues the event for every webhook that receives it. */
  private async dispatch(event: FeedEvent): Promise<void> {
    if (event.owner === '') return;
    const webhooks = (await this.options.webhooks.enabledOf(event.owner)).filter((webhook) => receives(webhook, event));
    if (webhooks.length === 0) return;
    const message = eventMessage(event);
    for (const webhook of webhooks) {
      await this.options.queue.enqueue(DELIVERY_JOB, deliveryPayload({ webhookId: webhook.id, message }), {
        jobId: deliveryJobId(webhook.id, message.id),
        attempts: DELIVERY_ATTEMPTS,
      });
    }
  }

  private async pruneWhenDue(): Promise<void> {
    const now = Date.now();
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    const keepMs = this.options.keepDeliveriesMs ?? 30 * 86_400_000;
    await this.options.webhooks.pruneDeliveries(new Date(now - keepMs));
  }
}

/** Resolves after `ms`, or at once when the signal aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
