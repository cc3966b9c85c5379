import { type Logger, silentLogger } from '../log/logger.ts';
import type { NewAuditEvent } from '../registry/records.ts';

const WINDOW_MS = 60_000;

/**
 * Writes refusals (refused mTLS connections, refused API calls) to the audit trail, bounded so that a flood
 * cannot fill it: at most one event per key (e.g. reason and certificate) per minute and at most `perMinute`
 * events per minute in all. The rest are only counted by the caller.
 */
export class RefusalAudit {
  private readonly lastWritten = new Map<string, number>();
  private windowStart = 0;
  private writtenInWindow = 0;

  constructor(
    private readonly store: { appendAudit(event: NewAuditEvent, at: Date): Promise<void> },
    private readonly what: string,
    private readonly logger: Logger = silentLogger,
    private readonly perMinute = 100,
    private readonly now = () => Date.now(),
  ) {}

  record(key: string, event: NewAuditEvent): void {
    const now = this.now();
    if (now - this.windowStart >= WINDOW_MS) {
      this.windowStart = now;
      this.writtenInWindow = 0;
      // Forget keys older than a minute; the map never holds more than two windows' worth of events.
      for (const [seen, at] of this.lastWritten) if (now - at >= WINDOW_MS) this.lastWritten.delete(seen);
    }
    const last = this.lastWritten.get(key);
    if ((last !== undefined && now - last < WINDOW_MS) || this.writtenInWindow >= this.perMinute) return;
    this.lastWritten.set(key, now);
    this.writtenInWindow += 1;
    this.store
      .appendAudit(event, new Date(now))
      .catch((error: unknown) => this.logger.error({ err: error }, `cannot audit a refused ${this.what}`));
  }
}
