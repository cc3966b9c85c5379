import type { NewAuditEvent } from '../registry/records.ts';
import type { FeedEventType } from '../registry/events.ts';

/** An owner's endpoint, secret included: the store is the only place the secret is kept after creation. */
export interface WebhookRecord {
  readonly id: string;
  readonly owner: string;
  readonly url: string;
  /** Empty: every feed event type. */
  readonly eventTypes: readonly FeedEventType[];
  readonly description: string;
  /** whsec_ and base64: what signs every delivery. Never returned by the API after creation, never logged. */
  readonly secret: string;
  /** The audit id of the webhook's creation: it receives the events after it. */
  readonly fromEventId: number;
  readonly consecutiveFailures: number;
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly disabledAt: Date | undefined;
  readonly disabledReason: string;
}

export type NewWebhook = Omit<WebhookRecord, 'fromEventId' | 'consecutiveFailures' | 'disabledAt' | 'disabledReason'>;

/** One attempt to deliver one event, as the delivery log keeps it. */
export interface DeliveryAttempt {
  readonly webhookId: string;
  /** The webhook-id header: the event's cursor, or test_<hex>. */
  readonly eventId: string;
  readonly eventType: string;
  readonly attempt: number;
  /** 0 when the endpoint gave no HTTP answer. */
  readonly statusCode: number;
  /** Empty when the attempt succeeded. */
  readonly error: string;
  readonly durationMs: number;
  readonly attemptedAt: Date;
}

export interface DeliveryRecord extends DeliveryAttempt {
  /** The log's order, for paging. */
  readonly id: number;
}

/** How an attempt counts towards disabling the webhook. */
export type AttemptOutcome =
  | { readonly kind: 'succeeded' }
  | { readonly kind: 'failed'; readonly disableAfter: number; readonly disabledEvent: (failures: number) => NewAuditEvent }
  | { readonly kind: 'test' };

/** Where webhooks and their delivery log live; src/db/webhook-store.ts implements it. */
export interface WebhookStore {
  /** The webhook and its audit event in one transaction; the webhook receives the events after that audit event. */
  insert(webhook: NewWebhook, created: NewAuditEvent): Promise<WebhookRecord>;
  get(id: string): Promise<WebhookRecord | undefined>;
  /** Oldest first; every owner's when `owner` is undefined. */
  list(owner: string | undefined): Promise<WebhookRecord[]>;
  /** The owner's webhooks that are not disabled. */
  enabledOf(owner: string): Promise<WebhookRecord[]>;
  /** Removes the webhook and its delivery log, with the audit event, in one transaction; false when it was gone. */
  delete(id: string, deleted: NewAuditEvent): Promise<boolean>;
  /**
   * Writes the attempt to the log and counts it: a success resets the webhook's failures, a failure adds one and,
   * at `disableAfter`, disables the webhook with its audit event (once). Says whether this attempt disabled it.
   */
  recordAttempt(attempt: DeliveryAttempt, outcome: AttemptOutcome): Promise<{ disabled: boolean }>;
  /** The webhook's attempts, newest first, below the log id `beforeId` when it is given. */
  deliveries(webhookId: string, limit: number, beforeId: number | undefined): Promise<DeliveryRecord[]>;
  /** Forgets attempts made before `before`; how many. */
  pruneDeliveries(before: Date): Promise<number>;
}
