import type { JsonObject, MessageInitShape } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import type { EventService, ListEventsRequest, RegistryEventSchema, WatchAgentsRequest } from '../../gen/atr/v1/event_pb.js';
import { invalidArgument } from '../errors.ts';
import type { EventFeed } from '../registry/event-feed.ts';
import { type FeedEvent, checkEventFilter, decodeCursor, encodeCursor } from '../registry/events.ts';
import { timestamp } from './convert.ts';
import { pageSize } from './pagination.ts';

const DEFAULT_HEARTBEAT_SECONDS = 30;
const MAX_HEARTBEAT_SECONDS = 3600;

/** EventService: requests to the event feed's watches and pages, feed events to messages. */
export class EventServiceImpl implements ServiceImpl<typeof EventService> {
  constructor(private readonly feed: EventFeed) {}

  async *watchAgents(request: WatchAgentsRequest, context: HandlerContext) {
    const filter = checkEventFilter(request);
    if (request.fromOldest && request.after !== '') throw invalidArgument('from_oldest', 'cannot be combined with after');
    if (request.heartbeatSeconds > MAX_HEARTBEAT_SECONDS) {
      throw invalidArgument('heartbeat_seconds', `must be from 0 to ${MAX_HEARTBEAT_SECONDS}`);
    }
    const after = request.after !== '' ? decodeCursor(request.after) : request.fromOldest ? 0 : 'now';
    const heartbeatMs = (request.heartbeatSeconds || DEFAULT_HEARTBEAT_SECONDS) * 1000;
    for await (const message of this.feed.watch({ after, filter, heartbeatMs, signal: context.signal })) {
      yield { event: message.event && eventToProto(message.event), cursor: encodeCursor(message.position) };
    }
  }

  async listEvents(request: ListEventsRequest) {
    const filter = checkEventFilter(request);
    const after = request.after === '' ? 0 : decodeCursor(request.after);
    const { events, next } = await this.feed.list(filter, after, pageSize('limit', request.limit));
    return { events: events.map(eventToProto), nextCursor: encodeCursor(next) };
  }
}

function eventToProto(event: FeedEvent): MessageInitShape<typeof RegistryEventSchema> {
  return {
    cursor: encodeCursor(event.id),
    id: BigInt(event.id),
    eventType: event.eventType,
    agentName: event.agentName,
    owner: event.owner,
    actor: event.actor,
    timestamp: timestamp(event.createdAt),
    metadata: event.metadata as JsonObject,
  };
}
