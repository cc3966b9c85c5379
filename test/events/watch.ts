// Clients of the event feed for the tests: a watch read in the background, and the feed's current cursor.
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { Client } from '@connectrpc/connect';
import type { EventService, RegistryEvent, WatchAgentsRequestSchema, WatchAgentsResponse } from '../../gen/atr/v1/event_pb.js';
import { decodeCursor } from '../../src/registry/events.ts';

export type Events = Client<typeof EventService>;

/** Where a cursor points, to compare two of them; clients treat cursors as opaque, tests may look inside. */
export const position = (cursor: string): number => decodeCursor(cursor);

export async function eventually(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not true within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface Watch {
  /** Every message received so far, heartbeats included. */
  readonly messages: WatchAgentsResponse[];
  events(): RegistryEvent[];
  /** Resolves once a message at or past `cursor` has arrived; fails if the stream failed. */
  reached(cursor: string, timeoutMs?: number): Promise<void>;
  /** Goes away (cancels the call) and waits for the reading to end. */
  stop(): Promise<void>;
}

/**
 * WatchAgents read in the background, with a heartbeat every second unless the request says otherwise. With
 * `maxEvents`, the client stops reading (and goes away) after that many events, as a client that crashed would.
 */
export function watch(events: Events, request: MessageInitShape<typeof WatchAgentsRequestSchema>, maxEvents = Number.POSITIVE_INFINITY): Watch {
  const controller = new AbortController();
  const messages: WatchAgentsResponse[] = [];
  let failure: unknown;
  let count = 0;
  const done = (async () => {
    try {
      for await (const message of events.watchAgents({ heartbeatSeconds: 1, ...request }, { signal: controller.signal, timeoutMs: 0 })) {
        messages.push(message);
        if (message.event !== undefined && ++count >= maxEvents) break;
      }
    } catch (error) {
      if (!controller.signal.aborted) failure = error;
    }
  })();
  return {
    messages,
    events: () => messages.flatMap((message) => (message.event === undefined ? [] : [message.event])),
    async reached(cursor, timeoutMs = 10_000) {
      await eventually(
        () => {
          if (failure !== undefined) throw failure;
          return messages.some((message) => position(message.cursor) >= position(cursor));
        },
        timeoutMs,
        `a message at ${cursor}`,
      );
    },
    async stop() {
      controller.abort();
      await done;
    },
  };
}

/** The feed's current cursor (ListEvents' next_cursor once nothing is left), read page by page from `after`. */
export async function head(events: Events, after = ''): Promise<string> {
  let cursor = after;
  for (;;) {
    const page = await events.listEvents({ after: cursor, limit: 500 });
    if (page.events.length < 500) return page.nextCursor;
    cursor = page.nextCursor;
  }
}

/** Every event after `after`, through ListEvents. */
export async function listAll(events: Events, after: string, filter: { owner?: string; agentNames?: string[]; eventTypes?: string[] } = {}): Promise<RegistryEvent[]> {
  const all: RegistryEvent[] = [];
  let cursor = after;
  for (;;) {
    const page = await events.listEvents({ after: cursor, limit: 500, ...filter });
    all.push(...page.events);
    if (page.nextCursor === cursor) return all;
    cursor = page.nextCursor;
  }
}
