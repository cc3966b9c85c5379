// The lifecycle that happens by itself: when an agent's certificate lapses it is recorded as expired at that
// moment (audit event and log leaf, not only noticed when read), and at RENEW_AT of its validity the agent's owner
// is reminded (agent.expiring), once per certificate. Each is marked in the transaction that records it, so a sweep
// run twice, or by two processes at once, records nothing twice.
import type { JournalTx } from '../registry/journal.ts';
import type { Journal } from '../registry/journal.ts';

export type LifecycleKind = 'expiring' | 'expired';

/** An active agent's current certificate that reached a lifecycle point. */
export interface LifecycleCandidate {
  readonly agentName: string;
  readonly fingerprint: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface LifecycleStore {
  /**
   * Current certificates of agents not revoked that reached the point at `now` and carry no mark for it: expired
   * when notAfter has passed; expiring when `renewAt` of the validity has, and it has not expired.
   */
  due(kind: LifecycleKind, now: Date, renewAt: number, limit: number): Promise<LifecycleCandidate[]>;
  /**
   * In one transaction, for each candidate: its mark and what `record` writes, or nothing when it was marked
   * already. Returns the candidates it recorded.
   */
  mark(
    candidates: readonly LifecycleCandidate[],
    kind: LifecycleKind,
    now: Date,
    record: (tx: JournalTx, candidate: LifecycleCandidate) => Promise<unknown>,
  ): Promise<LifecycleCandidate[]>;
}

/** The actor lifecycle events are recorded as. */
export const LIFECYCLE_ACTOR = 'system:lifecycle';
const BATCH = 500;
const YIELD_EVERY_MS = 5;

export class Lifecycle {
  private lastYield = 0;

  constructor(
    private readonly store: LifecycleStore,
    private readonly journal: Journal,
    /** The fraction of a certificate's validity at which its agent is reminded to renew (2/3). */
    private readonly renewAt: number,
    /**
     * Lifecycle points recorded per transaction. On PostgreSQL many save a commit (a flush) each: 20 a transaction
     * took 10,000 expiries from 140/s to 222/s with resolve's p99 unchanged. On SQLite a transaction holds the process
     * for its whole length: 20 a transaction doubled the rate and also resolve's p99 during the sweep, so one each
     * (npm run bench, lifecycle rows).
     */
    private readonly perTransaction = 1,
  ) {}

  /** Records every lifecycle point reached by `now`; returns how many of each it recorded. */
  async sweep(now: Date = new Date()): Promise<Record<LifecycleKind, number>> {
    const recorded = { expired: 0, expiring: 0 };
    for (const kind of ['expired', 'expiring'] as const) {
      for (;;) {
        const due = await this.store.due(kind, now, this.renewAt, BATCH);
        for (let i = 0; i < due.length; i += this.perTransaction) {
          recorded[kind] += (await this.record(due.slice(i, i + this.perTransaction), kind, now)).length;
          await this.yieldNowAndThen();
        }
        if (due.length < BATCH) break;
      }
    }
    if (recorded.expired + recorded.expiring > 0) this.journal.committed();
    return recorded;
  }

  /**
   * On SQLite every query resolves without waiting for I/O, so a loop of them would never let the event loop serve
   * a request: after each few milliseconds of sweeping, requests get their turn (measured: resolve p99 5.5 s during
   * a 2,000-expiry sweep without this, below its idle p99 with it; npm run bench, lifecycle rows).
   */
  private async yieldNowAndThen(): Promise<void> {
    if (performance.now() - this.lastYield < YIELD_EVERY_MS) return;
    await new Promise((resolve) => setImmediate(resolve));
    this.lastYield = performance.now();
  }

  private record(candidates: readonly LifecycleCandidate[], kind: LifecycleKind, now: Date): Promise<LifecycleCandidate[]> {
    return this.store.mark(candidates, kind, now, (tx, { agentName, fingerprint, serial, notAfter }) =>
      this.journal.write(
        tx,
        {
          eventType: kind === 'expired' ? 'agent.expired' : 'agent.expiring',
          actor: LIFECYCLE_ACTOR,
          agentName,
          auditMetadata: { cert_fingerprint: fingerprint, cert_serial: serial, expires_at: notAfter.toISOString() },
          leaf: { fingerprint, serial, status: kind === 'expired' ? 'expired' : 'active', reason: '' },
        },
        now,
      ),
    );
  }
}
