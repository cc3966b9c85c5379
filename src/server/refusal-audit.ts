import type { RegistryStore } from '../registry/store.ts';

export interface Refusal {
  readonly reason: string;
  /** SHA-256 of the presented certificate, '' when there was none. */
  readonly fingerprint: string;
  readonly agentName: string;
  readonly clientAddress: string;
}

const WINDOW_MS = 60_000;

/**
 * Writes refused mTLS connections to the audit trail, bounded so that a flood cannot fill it: at most one event per
 * (reason, certificate) per minute and at most `perMinute` events per minute in all. The rest are only counted.
 */
export class RefusalAudit {
  private readonly lastWritten = new Map<string, number>();
  private windowStart = 0;
  private writtenInWindow = 0;

  constructor(
    private readonly store: RegistryStore,
    private readonly perMinute = 100,
    private readonly now = () => Date.now(),
  ) {}

  record(refusal: Refusal): void {
    const now = this.now();
    if (now - this.windowStart >= WINDOW_MS) {
      this.windowStart = now;
      this.writtenInWindow = 0;
      // Forget keys older than a minute; the map never holds more than two windows' worth of events.
      for (const [key, at] of this.lastWritten) if (now - at >= WINDOW_MS) this.lastWritten.delete(key);
    }
    const key = `${refusal.reason}\u0000${refusal.fingerprint}`;
    const last = this.lastWritten.get(key);
    if ((last !== undefined && now - last < WINDOW_MS) || this.writtenInWindow >= this.perMinute) return;
    this.lastWritten.set(key, now);
    this.writtenInWindow += 1;
    const metadata = { kind: 'mtls', verified: false, reason: refusal.reason, fingerprint: refusal.fingerprint };
    this.store
      .appendAudit({ eventType: 'cert.verified', actor: `mtls@${refusal.clientAddress}`, agentName: refusal.agentName, metadata }, new Date(now))
      .catch((error: unknown) => console.error('mTLS listener: cannot audit a refused connection:', error));
  }
}
