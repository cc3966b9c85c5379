// The message bus between the workers of one `atr serve --workers N` without Redis: node:cluster's IPC channel,
// relayed by the primary. A worker publishes, the primary hands the message to every other worker, each runs its
// handlers and says so, and the publisher's promise resolves once all have: a cache invalidation awaited before a
// change returns has reached every worker's memory before the client hears of the change.
import type { Cluster, Worker } from 'node:cluster';
import type { MessageBus, MessageHandler } from '../registry/message-bus.ts';

/** Worker → primary: publish. Primary → worker: deliver (under the primary's own id). */
interface Carried {
  readonly kind: 'atr:bus';
  readonly id: number;
  readonly channel: string;
  readonly message: string;
}

/** Worker → primary: this worker's handlers have run. Primary → publisher: every other worker's have. */
interface Acknowledged {
  readonly kind: 'atr:bus-handled' | 'atr:bus-delivered';
  readonly id: number;
}

/**
 * How long a publisher waits for the other workers: one that is stuck must not hold a change's answer. Past it the
 * message may still arrive; until then the database poll and CACHE_LOCAL_TTL_MS bound staleness, as without a bus.
 */
const DELIVERY_LIMIT_MS = 1_000;

/** A process's IPC end, as node:child_process gives it to a forked worker. */
type Channel = Pick<NodeJS.Process, 'send' | 'on' | 'off' | 'connected'>;

/**
 * A worker's side. Messages go to the OTHER workers only: every publisher here (the revocation feed, the lookup
 * cache, the event feed) has already acted on its own change before it publishes.
 */
export class IpcBus implements MessageBus {
  private readonly handlers = new Map<string, Set<MessageHandler>>();
  private readonly waiting = new Map<number, (delivered: boolean) => void>();
  private published = 0;
  private closed = false;

  constructor(private readonly channel: Channel = process) {
    channel.on('message', this.received);
  }

  publish(channel: string, message: string): Promise<boolean> {
    if (this.closed || !this.channel.connected || this.channel.send === undefined) return Promise.resolve(false);
    const id = ++this.published;
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(false), DELIVERY_LIMIT_MS);
      const settle = (delivered: boolean) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(delivered);
      };
      this.waiting.set(id, settle);
      this.send({ kind: 'atr:bus', id, channel, message } satisfies Carried, () => settle(false));
    });
  }

  subscribe(channel: string, handler: MessageHandler): () => void {
    let handlers = this.handlers.get(channel);
    if (handlers === undefined) {
      handlers = new Set();
      this.handlers.set(channel, handlers);
    }
    handlers.add(handler);
    return () => {
      handlers.delete(handler);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.channel.off('message', this.received);
    for (const settle of [...this.waiting.values()]) settle(false);
  }

  private readonly received = (message: unknown): void => {
    if (isCarried(message)) {
      for (const handler of [...(this.handlers.get(message.channel) ?? [])]) {
        try {
          handler(message.message);
        } catch {
          // One failing handler must not keep the message from the others.
        }
      }
      this.send({ kind: 'atr:bus-handled', id: message.id } satisfies Acknowledged);
    } else if (isAcknowledged(message, 'atr:bus-delivered')) {
      this.waiting.get(message.id)?.(true);
    }
  };

  /** Sends unless the channel closed (the primary went away); `failed` hears of a message that could not go. */
  private send(message: Carried | Acknowledged, failed?: () => void): void {
    if (!this.channel.connected || this.channel.send === undefined) {
      failed?.();
      return;
    }
    this.channel.send(message, undefined, {}, (error: Error | null) => {
      if (error !== null) failed?.();
    });
  }
}

/**
 * The primary's side: relays every message a worker publishes to the other workers that are connected, and tells
 * the publisher once each has handled it or gone. Returns the function that stops relaying.
 */
export function relayBus(cluster: Pick<Cluster, 'on' | 'off' | 'workers'>): () => void {
  const pending = new Map<number, { readonly publisher: Worker; readonly id: number; readonly waitingFor: Set<number> }>();
  let relayed = 0;
  const settle = (relayId: number) => {
    const entry = pending.get(relayId);
    if (entry === undefined || entry.waitingFor.size > 0) return;
    pending.delete(relayId);
    sendTo(entry.publisher, { kind: 'atr:bus-delivered', id: entry.id });
  };
  const onMessage = (worker: Worker, message: unknown) => {
    if (isCarried(message)) {
      const relayId = ++relayed;
      const others = Object.values(cluster.workers ?? {}).filter((other): other is Worker => other !== undefined && other !== worker && other.isConnected());
      pending.set(relayId, { publisher: worker, id: message.id, waitingFor: new Set(others.map((other) => other.id)) });
      for (const other of others) sendTo(other, { ...message, id: relayId });
      settle(relayId);
    } else if (isAcknowledged(message, 'atr:bus-handled')) {
      pending.get(message.id)?.waitingFor.delete(worker.id);
      settle(message.id);
    }
  };
  // A worker that went away will not answer: nobody waits for it.
  const onExit = (worker: Worker) => {
    for (const [relayId, entry] of pending) {
      if (entry.publisher === worker) pending.delete(relayId);
      else if (entry.waitingFor.delete(worker.id)) settle(relayId);
    }
  };
  cluster.on('message', onMessage);
  cluster.on('exit', onExit);
  return () => {
    cluster.off('message', onMessage);
    cluster.off('exit', onExit);
  };
}

function sendTo(worker: Worker, message: Carried | Acknowledged): void {
  if (worker.isConnected()) worker.send(message, undefined, () => undefined);
}

function isCarried(message: unknown): message is Carried {
  const candidate = message as Partial<Carried> | null;
  return candidate?.kind === 'atr:bus' && typeof candidate.id === 'number' && typeof candidate.channel === 'string' && typeof candidate.message === 'string';
}

function isAcknowledged(message: unknown, kind: Acknowledged['kind']): message is Acknowledged {
  const candidate = message as Partial<Acknowledged> | null;
  return candidate?.kind === kind && typeof candidate.id === 'number';
}
