import type { JobPayload } from '../jobs/queue.ts';
import type { WebhookMessage } from './message.ts';

/** The job that delivers one event to one webhook. */
export const DELIVERY_JOB = 'webhook.deliver';

/** Attempts per delivery: with the queue's backoff (1 s, 2 s, 4 s ...) the last is about two minutes after the first. */
export const DELIVERY_ATTEMPTS = 8;

export interface DeliveryJob {
  readonly webhookId: string;
  readonly message: WebhookMessage;
}

/**
 * One job per webhook and event, named after both: whoever enqueues it again (a dispatcher that crashed before it
 * saved its cursor, another process) adds nothing. Three colon-separated parts, as BullMQ allows custom ids.
 */
export function deliveryJobId(webhookId: string, messageId: string): string {
  return `webhook:${webhookId}:${messageId}`;
}

/** The job's payload: the message as it will be sent, never the secret (job listings show payloads). */
export function deliveryPayload(job: DeliveryJob): JobPayload {
  return { webhook_id: job.webhookId, message_id: job.message.id, event_type: job.message.type, body: job.message.body };
}

export function readDeliveryPayload(payload: JobPayload): DeliveryJob {
  const { webhook_id: webhookId, message_id: id, event_type: type, body } = payload;
  if (typeof webhookId !== 'string' || typeof id !== 'string' || typeof type !== 'string' || typeof body !== 'string') {
    throw new Error('a webhook delivery job needs webhook_id, message_id, event_type and body');
  }
  return { webhookId, message: { id, type, body } };
}
