/** claimed: first presentation, now recorded; replayed: seen before; full: cannot be recorded, so not accepted. */
export type ReplayCheck = 'claimed' | 'replayed' | 'full';

/** Remembers token ids until their tokens expire, so each token is accepted once. */
export interface ReplayGuard {
  /** Records `id` until `expiresAtMs`. Check and record are one step, so two concurrent presentations cannot both pass. */
  claim(id: string, expiresAtMs: number, nowMs: number): ReplayCheck | Promise<ReplayCheck>;
}

export const DEFAULT_REPLAY_CAPACITY = 100_000;

/**
 * One process's memory of token ids; a replay to another process is caught only with Redis (SharedReplayGuard).
 * Bounded: when full of unexpired ids it refuses new ones rather than forgetting one that could then be replayed.
 */
export class InMemoryReplayGuard implements ReplayGuard {
  private readonly expiries = new Map<string, number>();

  constructor(private readonly capacity: number = DEFAULT_REPLAY_CAPACITY) {}

  claim(id: string, expiresAtMs: number, nowMs: number): ReplayCheck {
    this.forgetExpired(nowMs);
    const known = this.expiries.get(id);
    if (known !== undefined && known > nowMs) return 'replayed';
    if (this.expiries.size >= this.capacity) return 'full';
    this.expiries.delete(id); // re-inserted at the back, where its expiry belongs
    this.expiries.set(id, expiresAtMs);
    return 'claimed';
  }

  /** Ids are inserted roughly in expiry order (lifetimes are at most minutes), so expired ones gather at the front. */
  private forgetExpired(nowMs: number): void {
    for (const [id, expiresAtMs] of this.expiries) {
      if (expiresAtMs > nowMs) {
        if (this.expiries.size < this.capacity) return;
        continue; // full: look past the first live id for expired ones further on
      }
      this.expiries.delete(id);
    }
  }
}
