import { invalidArgument, quoted } from '../errors.ts';
import { checkOwner } from './fields.ts';
import { REGISTERED_NAME, brokenNameRule } from './names.ts';
import type { AuditEventType } from './records.ts';

// The registry's event feed (EventService): which audit events it shows, its cursors and its filters. The feed is
// read from the audit trail, which every change writes in its own transaction.

/** The audit events the feed shows, in one place; verifications, API keys and refusals stay in the audit trail only. */
export const FEED_EVENT_TYPES = [
  'agent.registered',
  'agent.rotated',
  'agent.renewed',
  'agent.revoked',
  'agent.updated',
  'agent.expiring',
  'agent.expired',
  'dns.published',
  'dns.failed',
  'domain.verified',
  'domain.verification_failed',
  'operation.failed',
] as const satisfies readonly AuditEventType[];

export type FeedEventType = (typeof FEED_EVENT_TYPES)[number];

/**
 * Events whose owner is the one in their metadata: those about a domain (their agent_name is the domain), and a
 * failed operation (a failed registration's agent is gone). Every other event's owner is its agent's (an agent's
 * owner never changes).
 */
export const METADATA_OWNER_EVENT_TYPES: readonly FeedEventType[] = ['domain.verified', 'domain.verification_failed', 'operation.failed'];

export function isFeedEventType(eventType: string): eventType is FeedEventType {
  return (FEED_EVENT_TYPES as readonly string[]).includes(eventType);
}

/** One event of the feed. */
export interface FeedEvent {
  /** The audit event's id: the feed's order and, encoded, its cursor. */
  readonly id: number;
  readonly eventType: FeedEventType;
  readonly agentName: string;
  /** Empty when the agent is unknown (an event of an agent that was never stored). */
  readonly owner: string;
  readonly actor: string;
  readonly metadata: Record<string, unknown>;
  readonly createdAt: Date;
}

/** What a watcher or poller asks for; an empty list or an unset owner matches everything. */
export interface EventFilter {
  readonly owner?: string | undefined;
  readonly agentNames: readonly string[];
  readonly eventTypes: readonly FeedEventType[];
}

export const MAX_FILTER_NAMES = 100;

/** The filter from a request's fields, each checked by the rule of the field it filters; throws InvalidArgument. */
export function checkEventFilter(input: { owner: string; agentNames: readonly string[]; eventTypes: readonly string[] }): EventFilter {
  if (input.agentNames.length > MAX_FILTER_NAMES) throw invalidArgument('agent_names', `at most ${MAX_FILTER_NAMES} names`);
  for (const name of input.agentNames) {
    const broken = brokenNameRule(name, REGISTERED_NAME);
    if (broken !== undefined) throw invalidArgument('agent_names', `${broken} (${quoted(name)})`);
  }
  const eventTypes = input.eventTypes.map((eventType) => {
    if (!isFeedEventType(eventType)) {
      throw invalidArgument('event_types', `${quoted(eventType)} is not one of ${FEED_EVENT_TYPES.join(', ')}`);
    }
    return eventType;
  });
  return {
    owner: input.owner === '' ? undefined : checkOwner(input.owner),
    agentNames: [...new Set(input.agentNames)],
    eventTypes: [...new Set(eventTypes)],
  };
}

export function matches(event: FeedEvent, filter: EventFilter): boolean {
  return (
    (filter.owner === undefined || event.owner === filter.owner) &&
    (filter.agentNames.length === 0 || filter.agentNames.includes(event.agentName)) &&
    (filter.eventTypes.length === 0 || filter.eventTypes.includes(event.eventType))
  );
}

// Cursors are the audit event id in base 36 behind a prefix: opaque to clients (who must not do arithmetic on them),
// short, and checked exactly, so a cursor from elsewhere is refused rather than silently read as a position.
const CURSOR_PREFIX = 'evt_';
const CURSOR = /^evt_(0|[1-9a-z][0-9a-z]{0,10})$/;
const CURSOR_RULE = `is not a cursor this registry issued (${CURSOR_PREFIX} and a base-36 position)`;

/** The cursor of the position just after the event with this id; 0 is the position before every event. */
export function encodeCursor(id: number): string {
  return `${CURSOR_PREFIX}${id.toString(36)}`;
}

/** The position a cursor names; throws InvalidArgument naming `field` and the rule. */
export function decodeCursor(cursor: string, field = 'after'): number {
  const digits = CURSOR.exec(cursor)?.[1];
  const id = digits === undefined ? Number.NaN : Number.parseInt(digits, 36);
  if (!Number.isSafeInteger(id)) throw invalidArgument(field, `${quoted(cursor)} ${CURSOR_RULE}`);
  return id;
}
