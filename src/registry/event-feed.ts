import { invalidArgument, quoted } from '../errors.ts';
import { type Logger, silentLogger } from '../log/logger.ts';
import { type EventFilter, type FeedEvent, encodeCursor, matches } from './events.ts';
import { Poller } from './poller.ts';

/** One audit row as the feed reads it: every row has its id; rows of the feed's event types carry their event. */
export interface AuditRow {
  readonly id: number;
  readonly event: FeedEvent | undefined;
}

/** What the feed reads; src/db/event-store.ts implements it on the audit_events table. */
export interface EventStore {
  /** Every audit row with an id above `afterId`, in id order, at most `limit`. */
  rowsAfter(afterId: number, limit: number): Promise<AuditRow[]>;
  /** The ids and times of the newest `limit` audit rows, newest first. */
  newestRows(limit: number): Promise<{ id: number; createdAt: Date }[]>;
  /** The feed's events with `afterId` < id <= `upToId` that match the filter, in id order, at most `limit`. */
  events(filter: EventFilter, afterId: number, upToId: number, limit: number): Promise<FeedEvent[]>;
  /** The largest audit id ever taken, committed or not (rows deleted since included); 0 when none. */
  lastIssuedId(): Promise<number>;
}

export interface EventFeedOptions {
  readonly store: EventStore;
  /** How often the database is read (EVENTS_POLL_MS). */
  readonly intervalMs: number;
  /** How long an id may stay missing below committed ones before the feed passes it by; default 5 s. */
  readonly settleMs?: number;
  readonly logger?: Logger;
}

/** A message of a watch: an event, or (event undefined) a heartbeat; `position` is the cursor to resume from. */
export interface WatchMessage {
  readonly event: FeedEvent | undefined;
  readonly position: number;
}

export interface WatchOptions {
  /** Resume after this position; 'now' starts at the feed's current position. */
  readonly after: number | 'now';
  readonly filter: EventFilter;
  readonly heartbeatMs: number;
  readonly signal: AbortSignal;
}

const BATCH = 1_000;
/** Rows read back at start to find the ones written during the settle window. */
const STARTUP_ROWS = 1_000;
/** A watcher further behind than this many live events is sent the rest from the database instead. */
const MAX_QUEUED = 1_000;
const PAGE = 500;

/**
 * The registry's event feed: one poller per process reads the audit trail every interval (and at once after a
 * change this process made) and fans the new events out to every open watch.
 *
 * Ids are monotonic but on PostgreSQL they do not commit in order: a transaction can take id 7 and commit after
 * another has committed id 8. A feed that moved past 8 would never show 7, and a client resuming after 8 would miss
 * it. So the feed keeps a position below which every id has committed, and moves it only over ids it has seen:
 * at a missing id it waits, until the id commits or until it has been missing for `settleMs` (it belonged to a
 * transaction that rolled back, or to a row deleted since; a transaction that holds its audit id longer than that
 * is passed by and logged). Every cursor the feed hands out is such a position, so an event below a cursor has
 * always been offered already. Waiting only at a gap, rather than serving only events older than a fixed delay,
 * keeps the feed immediate in the common case; SQLite, with one writer at a time, never shows such a gap.
 */
export class EventFeed {
  private readonly store: EventStore;
  private readonly settleMs: number;
  private readonly logger: Logger;
  private readonly poller: Poller;
  private readonly listeners = new Set<(event: FeedEvent) => void>();
  /** The wake-up of every watch waiting for events, so that stop() ends them all. */
  private readonly waiting = new Set<() => void>();
  private readonly stopped = new AbortController();
  /** Every id up to this one has committed (or been passed by): the feed's position. */
  private settled = 0;
  /**
   * When each id above the position was first known to be missing: an id is missing from the poll that first
   * read a row above it. Kept as (highest id read, time) pairs, ascending, pruned as the position passes them.
   */
  private readonly sightings: { upTo: number; at: number }[] = [];

  constructor(options: EventFeedOptions) {
    this.store = options.store;
    this.settleMs = options.settleMs ?? 5_000;
    this.logger = options.logger ?? silentLogger;
    this.poller = new Poller(() => this.readOnce(), options.intervalMs);
  }

  get watcherCount(): number {
    return this.listeners.size;
  }

  /**
   * Finds the position to start from, then polls. It starts below the rows written in the last `settleMs`, so that
   * an id another process took just before this one started is waited for like any other.
   */
  async start(): Promise<void> {
    const rows = await this.store.newestRows(STARTUP_ROWS);
    const cutoff = Date.now() - this.settleMs;
    const older = rows.find((row) => row.createdAt.getTime() < cutoff);
    this.settled = older?.id ?? (rows.length < STARTUP_ROWS ? 0 : (rows.at(-1)?.id ?? 0));
    // Caught up before any watch starts, so that (unless a gap holds it back) a watch from now is not sent them as new.
    await this.readOnce();
    this.poller.start();
  }

  /** Stops polling and ends every watch; waits for the poll in flight. */
  async stop(): Promise<void> {
    this.stopped.abort();
    for (const wake of [...this.waiting]) wake();
    await this.poller.stop();
  }

  /** Called after this process committed a change: reads the database now rather than at the next interval. */
  changed(): void {
    void this.poller.poll();
  }

  /**
   * The events after `after` that match, up to the feed's position (read fresh), at most `limit`; `next` is the
   * cursor to continue from: past the events returned and every event skipped, or `after` when there is nothing new.
   */
  async list(filter: EventFilter, after: number, limit: number): Promise<{ events: FeedEvent[]; next: number }> {
    await this.poller.poll();
    await this.checkIssued(after);
    return this.page(filter, after, this.settled, limit);
  }

  /**
   * The events after `after` that match, then each new one, with a heartbeat after `heartbeatMs` of silence, until
   * the signal aborts or the feed stops. Events up to the feed's position come from the database, later ones from
   * the poller; a watcher that falls more than MAX_QUEUED events behind goes back to the database.
   */
  async *watch(options: WatchOptions): AsyncGenerator<WatchMessage, void, undefined> {
    const { filter, heartbeatMs, signal } = options;
    if (options.after !== 'now') await this.checkIssued(options.after);
    let position = options.after === 'now' ? this.settled : options.after;
    let lastSent = Date.now();
    const ended = () => signal.aborted || this.stopped.signal.aborted;
    const heartbeatDue = () => Date.now() - lastSent >= heartbeatMs;
    while (!ended()) {
      const queue: FeedEvent[] = [];
      let overflowed = false;
      let wake: (() => void) | undefined;
      const unsubscribe = this.subscribe((event) => {
        if (queue.length < MAX_QUEUED) queue.push(event);
        else overflowed = true;
        wake?.();
      });
      try {
        // Subscribed in the same turn as this read: every event above `upTo` reaches the queue.
        const upTo = this.settled;
        while (position < upTo && !ended()) {
          const page = await this.page(filter, position, upTo, PAGE);
          for (const event of page.events) {
            if (ended()) return;
            yield { event, position: event.id };
            lastSent = Date.now();
          }
          position = page.next;
          if (heartbeatDue()) {
            yield { event: undefined, position };
            lastSent = Date.now();
          }
        }
        while (!ended() && !overflowed) {
          const event = queue.shift();
          if (event !== undefined) {
            if (event.id <= position) continue;
            position = event.id;
            if (!matches(event, filter)) continue;
            yield { event, position };
            lastSent = Date.now();
          } else if (heartbeatDue()) {
            // The queue is empty: every event up to the feed's position has been offered to this watch.
            position = Math.max(position, this.settled);
            yield { event: undefined, position };
            lastSent = Date.now();
          } else {
            await this.until(heartbeatMs - (Date.now() - lastSent), signal, (resolve) => {
              wake = resolve;
            });
            wake = undefined;
          }
        }
      } finally {
        unsubscribe();
      }
    }
  }

  /**
   * Refuses a position no event has ever had: a cursor from another registry, or from before the database was
   * restored, would otherwise wait in silence. Ahead of this process's position is fine: another process may be.
   */
  private async checkIssued(after: number): Promise<void> {
    if (after <= this.settled || after <= (await this.store.lastIssuedId())) return;
    throw invalidArgument('after', `${quoted(encodeCursor(after))} is past the newest event this registry has written`);
  }

  private subscribe(listener: (event: FeedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private async page(filter: EventFilter, after: number, upTo: number, limit: number): Promise<{ events: FeedEvent[]; next: number }> {
    if (after >= upTo) return { events: [], next: after };
    const events = await this.store.events(filter, after, upTo, limit);
    const last = events.at(-1);
    return { events, next: events.length === limit && last !== undefined ? last.id : upTo };
  }

  /** Resolves after `ms`, when the watch is woken, or when it or the feed ends. */
  private until(ms: number, signal: AbortSignal, onWake: (resolve: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal.addEventListener('abort', done);
      this.waiting.add(done);
      onWake(done);
    });
  }

  private async readOnce(): Promise<void> {
    for (;;) {
      let rows: AuditRow[];
      try {
        rows = await this.store.rowsAfter(this.settled, BATCH);
      } catch (error) {
        // The database is unreachable for now (readiness says so); the next poll reads the same rows again.
        this.logger.warn({ err: error }, 'event feed: reading the audit trail failed');
        return;
      }
      const held = this.advance(rows);
      if (held || rows.length < BATCH || this.stopped.signal.aborted) return;
    }
  }

  /** Moves the position over the rows that follow it without a gap that may still fill; true when held at one. */
  private advance(rows: readonly AuditRow[]): boolean {
    const now = Date.now();
    const highest = rows.at(-1)?.id;
    if (highest !== undefined && highest > (this.sightings.at(-1)?.upTo ?? this.settled)) this.sightings.push({ upTo: highest, at: now });
    let held = false;
    for (const row of rows) {
      if (row.id > this.settled + 1) {
        // Ids settled+1 .. row.id-1 are missing; the highest of them was the last to be noticed.
        const missingFor = now - this.noticed(row.id - 1);
        if (missingFor < this.settleMs) {
          held = true;
          break;
        }
        this.logger.warn({ from: this.settled + 1, to: row.id - 1, missingMs: missingFor }, 'event feed: passing by audit ids that did not commit');
      }
      this.settled = row.id;
      if (row.event !== undefined) this.emit(row.event);
    }
    while ((this.sightings[0]?.upTo ?? Number.POSITIVE_INFINITY) <= this.settled) this.sightings.shift();
    return held;
  }

  /** When `id` was first known to be missing: the first poll that read a row above it. */
  private noticed(id: number): number {
    return this.sightings.find((sighting) => sighting.upTo > id)?.at ?? Date.now();
  }

  private emit(event: FeedEvent): void {
    for (const listener of [...this.listeners]) listener(event);
  }
}
