// Webhooks: an owner's HTTP endpoints that receive the owner's feed events, signed (Standard Webhooks). This module
// keeps the rules (who may manage which webhook, what a URL may be, when a webhook is disabled) and makes each
// delivery attempt; the dispatcher decides what is delivered, the job queue when and how often.
import { randomBytes } from 'node:crypto';
import { DomainError, invalidArgument, quoted } from '../errors.ts';
import type { JobPayload, RunningJob } from '../jobs/queue.ts';
import { checkEventFilter } from '../registry/events.ts';
import { checkDescription, checkOwner } from '../registry/fields.ts';
import type { OwnerScope } from '../registry/registry.ts';
import { readDeliveryPayload } from './delivery-job.ts';
import { postJson } from './http-post.ts';
import { type WebhookMessage, testMessage } from './message.ts';
import { signedHeaders, newSecret } from './signature.ts';
import type { DeliveryAttempt, DeliveryRecord, WebhookRecord, WebhookStore } from './store.ts';
import { type TargetGuard, checkWebhookUrl, originOf } from './target-guard.ts';

/** Who asks: the actor for the audit trail, and the owner an owner key confines it to (undefined for admins). */
export interface Caller {
  readonly actor: string;
  readonly scope: OwnerScope;
}

export interface NewWebhookInput {
  readonly owner: string;
  readonly url: string;
  readonly eventTypes: readonly string[];
  readonly description: string;
}

export interface WebhooksOptions {
  readonly store: WebhookStore;
  readonly guard: TargetGuard;
  /** WEBHOOK_DISABLE_AFTER_FAILURES: failed attempts in a row that disable a webhook. */
  readonly disableAfterFailures: number;
  /** How long an endpoint has to answer; 10 s. */
  readonly timeoutMs?: number;
  readonly now?: () => Date;
}

/** The actor of what the registry does to webhooks by itself (disabling one). */
const WEBHOOKS_ACTOR = 'system:webhooks';
const DEFAULT_TIMEOUT_MS = 10_000;
const WEBHOOK_ID = /^wh_[0-9a-f]{20}$/;

export class Webhooks {
  private readonly store: WebhookStore;
  private readonly now: () => Date;
  /** The tail of each webhook's deliveries in this process: one request at a time per endpoint, in the order taken. */
  private readonly tails = new Map<string, Promise<void>>();
  private stopping = false;

  constructor(private readonly options: WebhooksOptions) {
    this.store = options.store;
    this.now = options.now ?? (() => new Date());
  }

  /** Registers the endpoint; the secret is in the answer and nowhere else the API reaches. */
  async create(input: NewWebhookInput, caller: Caller): Promise<{ webhook: WebhookRecord; secret: string }> {
    const owner = ownerFor(input.owner, caller.scope);
    const url = checkWebhookUrl(input.url);
    const { eventTypes } = checkEventFilter({ owner: '', agentNames: [], eventTypes: input.eventTypes });
    const description = checkDescription(input.description);
    const check = await this.options.guard.check(url);
    if (!check.ok) throw invalidArgument('url', check.reason);
    const id = `wh_${randomBytes(10).toString('hex')}`;
    const secret = newSecret();
    const now = this.now();
    const webhook = await this.store.insert(
      { id, owner, url: url.href, eventTypes, description, secret, createdBy: caller.actor, createdAt: now },
      { eventType: 'webhook.created', actor: caller.actor, agentName: '', metadata: { webhook_id: id, owner, origin: url.origin, event_types: eventTypes } },
    );
    return { webhook, secret };
  }

  /** The webhooks of `owner` (every owner's for an admin who names none); an owner key sees only its own. */
  list(owner: string, caller: Caller): Promise<WebhookRecord[]> {
    if (caller.scope !== undefined) return this.store.list(ownerFor(owner, caller.scope));
    return this.store.list(owner === '' ? undefined : checkOwner(owner));
  }

  async delete(id: string, caller: Caller): Promise<WebhookRecord> {
    const webhook = await this.owned(id, caller);
    const metadata = { webhook_id: id, owner: webhook.owner, origin: originOf(webhook.url) };
    if (!(await this.store.delete(id, { eventType: 'webhook.deleted', actor: caller.actor, agentName: '', metadata }))) throw webhookNotFound(id);
    return webhook;
  }

  /** Sends a webhook.test message now and says how it went; logged, but it neither disables nor revives the webhook. */
  async test(id: string, caller: Caller): Promise<DeliveryAttempt> {
    const webhook = await this.owned(id, caller);
    const attempt = await this.attempt(webhook, testMessage(webhook, this.now()), 1);
    await this.store.recordAttempt(attempt, { kind: 'test' });
    return attempt;
  }

  async deliveries(id: string, caller: Caller, page: { limit: number; beforeId: number | undefined }): Promise<DeliveryRecord[]> {
    await this.owned(id, caller);
    return this.store.deliveries(id, page.limit, page.beforeId);
  }

  /**
   * The delivery job: one attempt to deliver one message, logged and counted. A failed attempt throws, so the queue
   * tries again after its backoff; a webhook deleted or disabled meanwhile ends the job without a request.
   */
  deliver(payload: JobPayload, job: RunningJob): Promise<void> {
    const { webhookId, message } = readDeliveryPayload(payload);
    return this.serially(webhookId, async () => {
      const webhook = await this.store.get(webhookId);
      if (webhook === undefined || webhook.disabledAt !== undefined) return;
      const attempt = await this.attempt(webhook, message, job.attempt);
      if (attempt.error === '') {
        await this.store.recordAttempt(attempt, { kind: 'succeeded' });
        return;
      }
      const { disabled } = await this.store.recordAttempt(attempt, {
        kind: 'failed',
        disableAfter: this.options.disableAfterFailures,
        disabledEvent: (failures) => ({
          eventType: 'webhook.disabled',
          actor: WEBHOOKS_ACTOR,
          agentName: '',
          metadata: { webhook_id: webhookId, owner: webhook.owner, origin: originOf(webhook.url), failures, last_error: attempt.error },
        }),
      });
      // Disabled by this attempt: nothing more will be sent, so there is nothing to retry.
      if (!disabled) throw new Error(`webhook ${webhookId}, ${message.id}: ${attempt.error}`);
    });
  }

  /**
   * Deliveries waiting behind another to the same endpoint are given back to the queue rather than made: a process
   * shutting down waits for the requests in flight only (at most one per endpoint, each at most the timeout).
   */
  stop(): void {
    this.stopping = true;
  }

  /** One signed POST of the message to the webhook's URL, through the address guard, timed. */
  private async attempt(webhook: WebhookRecord, message: WebhookMessage, attempt: number): Promise<DeliveryAttempt> {
    const attemptedAt = this.now();
    const base = { webhookId: webhook.id, eventId: message.id, eventType: message.type, attempt, attemptedAt };
    const check = await this.options.guard.check(new URL(webhook.url));
    if (!check.ok) return { ...base, statusCode: 0, error: `refused: ${check.reason}`, durationMs: 0 };
    const headers = signedHeaders(webhook.secret, message.id, message.body, attemptedAt);
    const result = await postJson(check.target, headers, message.body, this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    return { ...base, ...result };
  }

  /** The webhook, if the caller may manage it: NotFound for an unknown id, PermissionDenied for another owner's. */
  private async owned(id: string, caller: Caller): Promise<WebhookRecord> {
    if (!WEBHOOK_ID.test(id)) throw invalidArgument('webhook_id', `${quoted(id)} is not a webhook id (wh_ and 20 hex digits)`);
    const webhook = await this.store.get(id);
    if (webhook === undefined) throw webhookNotFound(id);
    if (caller.scope !== undefined && webhook.owner !== caller.scope.owner) {
      throw new DomainError('permission_denied', `webhook ${id} belongs to another owner; this key manages only ${JSON.stringify(caller.scope.owner)}'s webhooks`);
    }
    return webhook;
  }

  /** Runs `work` after the webhook's earlier deliveries in this process have ended. */
  private serially(webhookId: string, work: () => Promise<void>): Promise<void> {
    const run = (this.tails.get(webhookId) ?? Promise.resolve()).then(() => {
      if (this.stopping) throw new Error(`webhook ${webhookId}: not delivered, the process is stopping; the queue tries again`);
      return work();
    });
    const tail = run.catch(() => undefined);
    this.tails.set(webhookId, tail);
    void tail.then(() => {
      if (this.tails.get(webhookId) === tail) this.tails.delete(webhookId);
    });
    return run;
  }
}

const webhookNotFound = (id: string) => new DomainError('webhook_not_found', `webhook ${id} not found`);

/** The owner a webhook is for: an owner key's own; an admin names one. */
function ownerFor(requested: string, scope: OwnerScope): string {
  if (scope === undefined) {
    if (requested === '') throw invalidArgument('owner', 'is required: name the owner whose events the webhook receives');
    return checkOwner(requested);
  }
  if (requested === '' || requested === scope.owner) return scope.owner;
  throw new DomainError('permission_denied', `owner: this key manages webhooks only for owner ${JSON.stringify(scope.owner)}`);
}
