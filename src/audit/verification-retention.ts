import { type Logger, silentLogger } from '../log/logger.ts';
import type { AuditEventType } from '../registry/records.ts';

/**
 * The audit events verifications write: certificates and tokens checked through the API and certificates the
 * mTLS listener refused (metadata.kind tells them apart). All three are the outcome of checking a certificate a
 * caller presented, so they share one retention; every other event type is kept for ever.
 */
export const VERIFICATION_EVENT_TYPE: AuditEventType = 'cert.verified';

const DAY_MS = 86_400_000;

/** What pruning needs from storage. */
export interface AuditPruneStore {
  /**
   * Deletes at most `limit` events of `eventType` created before `before`, oldest first, in one short statement;
   * returns how many this call deleted. Processes pruning the same database at once each delete different rows.
   */
  deleteAuditEventsBefore(eventType: AuditEventType, before: Date, limit: number): Promise<number>;
}

export interface VerificationRetentionOptions {
  readonly store: AuditPruneStore;
  /** Events older than this are deleted; at least 1 (0, keep for ever, means no job at all). */
  readonly retentionDays: number;
  readonly intervalMs: number;
  /** Delay before the first run after start(); default the interval, at most 10 s. */
  readonly firstRunMs?: number;
  /** Rows per delete statement; default 1000, so no statement holds SQLite's write lock for long. */
  readonly batchSize?: number;
  readonly now?: () => Date;
  readonly logger?: Logger;
}

/**
 * Deletes verification audit events past their retention, soon after start and then every interval, in batches
 * so that a large backlog never becomes one long transaction. Runs never overlap; a failed run is reported and
 * retried at the next interval.
 */
export class VerificationRetention {
  private readonly batchSize: number;
  private readonly now: () => Date;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  private deleted = 0;

  constructor(private readonly options: VerificationRetentionOptions) {
    if (!(options.retentionDays >= 1)) throw new RangeError('retentionDays must be at least 1');
    this.batchSize = options.batchSize ?? 1000;
    this.now = options.now ?? (() => new Date());
  }

  /** Events this process deleted since start. */
  get pruned(): number {
    return this.deleted;
  }

  /** Schedules the runs; the timer does not keep the process alive. */
  start(): void {
    if (this.timer || this.stopped) return;
    this.schedule(this.options.firstRunMs ?? Math.min(this.options.intervalMs, 10_000));
  }

  /** Stops scheduling and waits for the run in flight, which ends after its current batch. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One run: deletes every verification event older than the retention, batch by batch; returns how many. */
  async prune(): Promise<number> {
    const before = new Date(this.now().getTime() - this.options.retentionDays * DAY_MS);
    let total = 0;
    while (!this.stopped) {
      const deleted = await this.options.store.deleteAuditEventsBefore(VERIFICATION_EVENT_TYPE, before, this.batchSize);
      total += deleted;
      this.deleted += deleted;
      if (deleted < this.batchSize) break;
      // Let this process's other queries use the connection between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return total;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.running = this.prune()
        .catch((error: unknown) => (this.options.logger ?? silentLogger).error({ err: error }, 'cannot prune verification audit events'))
        .finally(() => {
          if (!this.stopped) this.schedule(this.options.intervalMs);
        });
    }, delayMs);
    this.timer.unref();
  }
}
