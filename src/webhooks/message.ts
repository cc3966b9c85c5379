import { randomBytes } from 'node:crypto';
import { type FeedEvent, encodeCursor } from '../registry/events.ts';

/** What a delivery sends: its id (the webhook-id header, the same on every attempt), its type and the exact body. */
export interface WebhookMessage {
  readonly id: string;
  readonly type: string;
  /** Serialized once, so that every attempt sends (and signs) the same bytes. */
  readonly body: string;
}

const TEST_EVENT_TYPE = 'webhook.test';

/**
 * A feed event as Standard Webhooks' payload: `type`, `timestamp` (when the event happened) and `data`, the event
 * with the fields and names GET /v1/events gives it. Its id is the event's cursor: unique, ordered and dot-free.
 */
export function eventMessage(event: FeedEvent): WebhookMessage {
  const cursor = encodeCursor(event.id);
  const timestamp = event.createdAt.toISOString();
  const data = {
    cursor,
    id: event.id,
    event_type: event.eventType,
    agent_name: event.agentName,
    owner: event.owner,
    actor: event.actor,
    timestamp,
    metadata: event.metadata,
  };
  return { id: cursor, type: event.eventType, body: JSON.stringify({ type: event.eventType, timestamp, data }) };
}

/** The message TestWebhook sends: a fresh id each time, the webhook in its data. */
export function testMessage(webhook: { readonly id: string; readonly owner: string }, now: Date): WebhookMessage {
  const timestamp = now.toISOString();
  const body = JSON.stringify({ type: TEST_EVENT_TYPE, timestamp, data: { webhook_id: webhook.id, owner: webhook.owner } });
  return { id: `test_${randomBytes(12).toString('hex')}`, type: TEST_EVENT_TYPE, body };
}
