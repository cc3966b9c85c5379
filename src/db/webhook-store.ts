import type { Knex } from '@mikro-orm/knex';
import type { FeedEventType } from '../registry/events.ts';
import type { NewAuditEvent } from '../registry/records.ts';
import type { DispatchStore } from '../webhooks/dispatcher.ts';
import type { AttemptOutcome, DeliveryAttempt, DeliveryRecord, NewWebhook, WebhookRecord, WebhookStore } from '../webhooks/store.ts';
import { AuditEventSchema } from './entities.ts';
import type { Database } from './orm.ts';
import { date, json, optionalDate, type Row } from './row-reader.ts';
import { writeTransaction } from './write-transaction.ts';

const MAX_ERROR_LENGTH = 500;

/**
 * Webhooks, their delivery log and the dispatch cursor on SQLite or PostgreSQL. Changes that carry an audit event
 * are one write transaction with it; counting an attempt is one conditional update, safe between processes.
 */
export class SqlWebhookStore implements WebhookStore, DispatchStore {
  private readonly knex: Knex;

  constructor(private readonly database: Database) {
    this.knex = database.orm.em.getKnex();
  }

  insert(webhook: NewWebhook, created: NewAuditEvent): Promise<WebhookRecord> {
    return writeTransaction(this.database, async (em, trx) => {
      const fromEventId = Number(await em.insert(AuditEventSchema, { ...created, createdAt: webhook.createdAt }));
      await trx('webhooks').insert({
        id: webhook.id,
        owner: webhook.owner,
        url: webhook.url,
        event_types: JSON.stringify(webhook.eventTypes),
        description: webhook.description,
        secret: webhook.secret,
        from_event_id: fromEventId,
        consecutive_failures: 0,
        created_by: webhook.createdBy,
        created_at: webhook.createdAt,
        disabled_reason: '',
      });
      return { ...webhook, fromEventId, consecutiveFailures: 0, disabledAt: undefined, disabledReason: '' };
    });
  }

  async get(id: string): Promise<WebhookRecord | undefined> {
    const row = (await this.knex('webhooks').where('id', id).first()) as Row | undefined;
    return row && toWebhook(row);
  }

  async list(owner: string | undefined): Promise<WebhookRecord[]> {
    const query = this.knex('webhooks').orderBy('created_at').orderBy('id');
    if (owner !== undefined) query.where('owner', owner);
    return ((await query) as Row[]).map(toWebhook);
  }

  async enabledOf(owner: string): Promise<WebhookRecord[]> {
    return ((await this.knex('webhooks').where('owner', owner).whereNull('disabled_at')) as Row[]).map(toWebhook);
  }

  delete(id: string, deleted: NewAuditEvent): Promise<boolean> {
    return writeTransaction(this.database, async (em, trx) => {
      if ((await trx('webhooks').where('id', id).delete()) === 0) return false;
      await trx('webhook_deliveries').where('webhook_id', id).delete();
      await em.insert(AuditEventSchema, { ...deleted, createdAt: new Date() });
      return true;
    });
  }

  recordAttempt(attempt: DeliveryAttempt, outcome: AttemptOutcome): Promise<{ disabled: boolean }> {
    return writeTransaction(this.database, async (em, trx) => {
      await trx('webhook_deliveries').insert({
        webhook_id: attempt.webhookId,
        event_id: attempt.eventId,
        event_type: attempt.eventType,
        attempt: attempt.attempt,
        status_code: attempt.statusCode,
        error: attempt.error.slice(0, MAX_ERROR_LENGTH),
        duration_ms: attempt.durationMs,
        created_at: attempt.attemptedAt,
      });
      const webhook = trx('webhooks').where('id', attempt.webhookId);
      if (outcome.kind === 'test') return { disabled: false };
      if (outcome.kind === 'succeeded') {
        await webhook.update({ consecutive_failures: 0 });
        return { disabled: false };
      }
      // The update holds the row (PostgreSQL) or the database (SQLite) until commit: attempts running in other
      // processes count after this one, never over it.
      await webhook.clone().increment('consecutive_failures', 1);
      const counted = (await webhook.clone().first('consecutive_failures')) as Row | undefined;
      const failures = Number(counted?.['consecutive_failures'] ?? 0);
      if (failures < outcome.disableAfter) return { disabled: false };
      const reason = `${failures} failed delivery attempts in a row; the last: ${attempt.error}`.slice(0, MAX_ERROR_LENGTH);
      const disabled = await webhook.clone().whereNull('disabled_at').update({ disabled_at: attempt.attemptedAt, disabled_reason: reason });
      if (disabled === 0) return { disabled: false };
      await em.insert(AuditEventSchema, { ...outcome.disabledEvent(failures), createdAt: attempt.attemptedAt });
      return { disabled: true };
    });
  }

  async deliveries(webhookId: string, limit: number, beforeId: number | undefined): Promise<DeliveryRecord[]> {
    const query = this.knex('webhook_deliveries').where('webhook_id', webhookId).orderBy('id', 'desc').limit(limit);
    if (beforeId !== undefined) query.where('id', '<', beforeId);
    return ((await query) as Row[]).map(toDelivery);
  }

  async pruneDeliveries(before: Date): Promise<number> {
    return this.knex('webhook_deliveries').where('created_at', '<', before).delete();
  }

  async lease(holder: string, now: Date, until: Date): Promise<number | undefined> {
    const taken = await this.knex('webhook_dispatch')
      .where('id', 1)
      .where((free) => free.where('lease_owner', holder).orWhereNull('lease_owner').orWhere('lease_until', '<', now))
      .update({ lease_owner: holder, lease_until: until });
    if (taken === 0) return undefined;
    const row = (await this.knex('webhook_dispatch').where({ id: 1, lease_owner: holder }).first('after_id')) as Row | undefined;
    return row === undefined ? undefined : Number(row['after_id']);
  }

  async saveCursor(holder: string, cursor: number): Promise<boolean> {
    const saved = await this.knex('webhook_dispatch').where({ id: 1, lease_owner: holder }).where('after_id', '<=', cursor).update({ after_id: cursor });
    return saved === 1;
  }

  async release(holder: string): Promise<void> {
    await this.knex('webhook_dispatch').where({ id: 1, lease_owner: holder }).update({ lease_owner: null, lease_until: null });
  }
}

function toWebhook(row: Row): WebhookRecord {
  return {
    id: String(row['id']),
    owner: String(row['owner']),
    url: String(row['url']),
    eventTypes: json<FeedEventType[]>(row['event_types']),
    description: String(row['description']),
    secret: String(row['secret']),
    fromEventId: Number(row['from_event_id']),
    consecutiveFailures: Number(row['consecutive_failures']),
    createdBy: String(row['created_by']),
    createdAt: date(row['created_at']),
    disabledAt: optionalDate(row['disabled_at']) ?? undefined,
    disabledReason: String(row['disabled_reason'] ?? ''),
  };
}

function toDelivery(row: Row): DeliveryRecord {
  return {
    id: Number(row['id']),
    webhookId: String(row['webhook_id']),
    eventId: String(row['event_id']),
    eventType: String(row['event_type']),
    attempt: Number(row['attempt']),
    statusCode: Number(row['status_code']),
    error: String(row['error'] ?? ''),
    durationMs: Number(row['duration_ms']),
    attemptedAt: date(row['created_at']),
  };
}
