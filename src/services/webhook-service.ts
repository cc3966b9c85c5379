import { create } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import {
  type CreateWebhookRequest,
  type ListWebhookDeliveriesRequest,
  type Webhook,
  type WebhookDelivery,
  WebhookDeliverySchema,
  WebhookSchema,
  type WebhookService,
} from '../../gen/atr/v1/webhook_pb.js';
import type { DeliveryAttempt, WebhookRecord } from '../webhooks/store.ts';
import type { Caller, Webhooks } from '../webhooks/webhooks.ts';
import { actorOf, ownerScopeOf } from './context.ts';
import { timestamp } from './convert.ts';
import { decodePageToken, encodePageToken, pageSize } from './pagination.ts';

/** WebhookService: requests to Webhooks calls, records to messages; a webhook's secret leaves only in CreateWebhook's answer. */
export class WebhookServiceImpl implements ServiceImpl<typeof WebhookService> {
  constructor(private readonly webhooks: Webhooks) {}

  async createWebhook(request: CreateWebhookRequest, context: HandlerContext) {
    const created = await this.webhooks.create(request, callerOf(context));
    return { webhook: webhookToProto(created.webhook), secret: created.secret };
  }

  async listWebhooks(request: { owner: string }, context: HandlerContext) {
    return { webhooks: (await this.webhooks.list(request.owner, callerOf(context))).map(webhookToProto) };
  }

  async deleteWebhook(request: { webhookId: string }, context: HandlerContext) {
    return { webhook: webhookToProto(await this.webhooks.delete(request.webhookId, callerOf(context))) };
  }

  async testWebhook(request: { webhookId: string }, context: HandlerContext) {
    return { delivery: deliveryToProto(await this.webhooks.test(request.webhookId, callerOf(context))) };
  }

  async listWebhookDeliveries(request: ListWebhookDeliveriesRequest, context: HandlerContext) {
    const limit = pageSize('page_size', request.pageSize);
    const deliveries = await this.webhooks.deliveries(request.webhookId, callerOf(context), { limit, beforeId: decodePageToken(request.pageToken) });
    const last = deliveries.at(-1);
    return {
      deliveries: deliveries.map(deliveryToProto),
      nextPageToken: last !== undefined && deliveries.length === limit ? encodePageToken(last.id) : '',
    };
  }
}

function callerOf(context: HandlerContext): Caller {
  return { actor: actorOf(context), scope: ownerScopeOf(context) };
}

function webhookToProto(record: WebhookRecord): Webhook {
  return create(WebhookSchema, {
    webhookId: record.id,
    owner: record.owner,
    url: record.url,
    eventTypes: [...record.eventTypes],
    description: record.description,
    enabled: record.disabledAt === undefined,
    consecutiveFailures: record.consecutiveFailures,
    createdAt: timestamp(record.createdAt),
    createdBy: record.createdBy,
    disabledAt: timestamp(record.disabledAt),
    disabledReason: record.disabledReason,
  });
}

function deliveryToProto(attempt: DeliveryAttempt): WebhookDelivery {
  return create(WebhookDeliverySchema, {
    eventId: attempt.eventId,
    eventType: attempt.eventType,
    attempt: attempt.attempt,
    statusCode: attempt.statusCode,
    error: attempt.error,
    durationMs: attempt.durationMs,
    attemptedAt: timestamp(attempt.attemptedAt),
    succeeded: attempt.error === '',
  });
}
