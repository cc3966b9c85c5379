import type { MessageBus } from './message-bus.ts';
import { Poller } from './poller.ts';
import type { RegistryStore, RetiredCertificate } from './store.ts';

export type RevocationEvent = RetiredCertificate;
export type RevocationListener = (event: RevocationEvent) => void;

export interface RevocationFeedOptions {
  readonly store: Pick<RegistryStore, 'listRetiredSince'>;
  /** How often the database is read; default 250 ms. */
  readonly intervalMs?: number;
  /**
   * How far before the previous poll each poll looks back; default 5 s. Covers transactions that commit after the
   * poll that would have seen them and clocks that differ between the processes writing retirement times.
   */
  readonly overlapMs?: number;
  /**
   * When set, a local change is announced on `<channelPrefix>revocations` and every process polls when the
   * announcement arrives, so revocations spread at once and `intervalMs` only covers lost messages.
   */
  readonly bus?: Pick<MessageBus, 'publish' | 'subscribe'> | undefined;
  /** Prefix of the bus channel; processes share revocations only when they use the same one. Default `atr:`. */
  readonly channelPrefix?: string;
}

const pollMessage = 'poll';

/**
 * Every certificate that stops being valid (revoked or superseded), emitted once to each subscriber.
 *
 * The feed polls the shared database rather than listening to this process's registry, so a revoke or rotation
 * made by ANY registry process on the same database reaches every process's feed within about one poll
 * interval: this is how revocation propagates between processes without Redis. With a message bus (Redis pub/sub)
 * a change also tells every process to poll at once; the database stays the source of truth either way.
 *
 * Each poll reads the retirements since (previous poll − overlap) and drops the fingerprints already emitted;
 * a fingerprint is forgotten once it falls out of that window, so memory stays bounded by the retirements of
 * the last few seconds.
 */
export class RevocationFeed {
  private readonly store: Pick<RegistryStore, 'listRetiredSince'>;
  private readonly overlapMs: number;
  private readonly listeners = new Set<RevocationListener>();
  /** Fingerprints already emitted, with their retirement time (ms), for de-duplication within the window. */
  private readonly emitted = new Map<string, number>();
  private readonly stopped = new AbortController();
  private lastPollAt = Date.now();
  private readonly poller: Poller;
  private readonly bus: Pick<MessageBus, 'publish' | 'subscribe'> | undefined;
  private readonly channel: string;
  private unsubscribeBus: (() => void) | undefined;

  constructor(options: RevocationFeedOptions) {
    this.store = options.store;
    this.overlapMs = options.overlapMs ?? 5_000;
    this.bus = options.bus;
    this.channel = `${options.channelPrefix ?? 'atr:'}revocations`;
    this.poller = new Poller(() => this.readOnce(), options.intervalMs ?? 250);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  /** Starts polling (and listening on the bus); the timer does not keep the process alive. */
  start(): void {
    if (this.unsubscribeBus || this.stopped.signal.aborted) return;
    this.unsubscribeBus = this.bus?.subscribe(this.channel, (message) => {
      if (message === pollMessage) void this.poll();
    }) ?? (() => {});
    this.poller.start();
  }

  /** Stops polling, ends every watch() and waits for the poll in flight, so the store can close after it. */
  async stop(): Promise<void> {
    this.stopped.abort();
    this.unsubscribeBus?.();
    await this.poller.stop();
  }

  /** Calls `listener` once for every retirement seen from now on; returns the function that stops it. */
  subscribe(listener: RevocationListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The certificates retired in the last `sinceSeconds`, oldest first, read from the database. */
  recent(sinceSeconds: number): Promise<RevocationEvent[]> {
    if (sinceSeconds <= 0) return Promise.resolve([]);
    return this.store.listRetiredSince(new Date(Date.now() - sinceSeconds * 1000));
  }

  /**
   * Called after a local change: reads the database now, so this process's own revocations reach subscribers
   * without waiting for the timer, and tells the other processes on the bus to do the same. A bus failure
   * only delays them until their next poll.
   */
  changed(): Promise<void> {
    if (this.bus && !this.stopped.signal.aborted) void this.bus.publish(this.channel, pollMessage);
    return this.poll();
  }

  /**
   * Reads the database now (also done every interval). A poll in flight may have read before the caller's change
   * committed, so a call made meanwhile queues one more poll after it; at most one runs and one waits.
   */
  poll(): Promise<void> {
    return this.poller.poll();
  }

  /**
   * The retirements of the last `sinceSeconds`, then each new one, until `signal` aborts or the feed stops.
   * Subscribes before reading the catch-up so nothing committed in between is lost, and sends each fingerprint once.
   */
  async *watch(sinceSeconds: number, signal: AbortSignal): AsyncGenerator<RevocationEvent, void, undefined> {
    const queue: RevocationEvent[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = this.subscribe((event) => {
      queue.push(event);
      wake?.();
    });
    const ended = () => signal.aborted || this.stopped.signal.aborted;
    const onEnd = () => wake?.();
    signal.addEventListener('abort', onEnd);
    this.stopped.signal.addEventListener('abort', onEnd);
    try {
      const sent = new Set<string>();
      for (const event of await this.recent(sinceSeconds)) {
        if (ended()) return;
        sent.add(event.fingerprint);
        yield event;
      }
      while (!ended()) {
        const event = queue.shift();
        if (event === undefined) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        } else if (!sent.delete(event.fingerprint)) {
          yield event;
        }
      }
    } finally {
      unsubscribe();
      signal.removeEventListener('abort', onEnd);
      this.stopped.signal.removeEventListener('abort', onEnd);
    }
  }

  private async readOnce(): Promise<void> {
    const startedAt = Date.now();
    const since = this.lastPollAt - this.overlapMs;
    let retired: RevocationEvent[];
    try {
      retired = await this.store.listRetiredSince(new Date(since));
    } catch {
      // The database is unreachable for now (readiness reports it); the next poll covers the same window again.
      return;
    }
    this.lastPollAt = startedAt;
    for (const [fingerprint, revokedAt] of this.emitted) {
      if (revokedAt < since) this.emitted.delete(fingerprint);
    }
    for (const event of retired) {
      if (this.emitted.has(event.fingerprint)) continue;
      this.emitted.set(event.fingerprint, event.revokedAt.getTime());
      this.emit(event);
    }
  }

  private emit(event: RevocationEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // One failing subscriber must not keep the event from the others.
      }
    }
  }
}
