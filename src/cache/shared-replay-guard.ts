import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { InMemoryReplayGuard, type ReplayCheck, type ReplayGuard } from '../verify/replay-guard.ts';

/**
 * Token ids remembered in Redis, so a token accepted by one registry process is refused by every other: one
 * `SET key 1 PX <until expiry> NX` per token, which claims and checks in one step. This process's memory is asked
 * first and always records too, so a replay to this process is caught even while Redis cannot be reached; during
 * such an outage a replay to another process is not (the counter says how often Redis was skipped).
 */
export class SharedReplayGuard implements ReplayGuard {
  private readonly local: InMemoryReplayGuard;
  private unshared = 0;

  constructor(
    private readonly redis: Redis,
    /** `atr:<trust domain>:`: the processes of one registry share it. */
    private readonly prefix: string,
    capacity?: number,
  ) {
    this.local = new InMemoryReplayGuard(capacity);
  }

  async claim(id: string, expiresAtMs: number, nowMs: number): Promise<ReplayCheck> {
    const local = this.local.claim(id, expiresAtMs, nowMs);
    if (local !== 'claimed') return local;
    const key = `${this.prefix}jti:${createHash('sha256').update(id).digest('base64url')}`;
    try {
      const set = await this.redis.set(key, '1', 'PX', Math.max(1, expiresAtMs - nowMs), 'NX');
      return set === 'OK' ? 'claimed' : 'replayed';
    } catch {
      this.unshared += 1;
      return 'claimed';
    }
  }

  /** Claims decided by this process alone because Redis could not be reached. */
  unsharedClaims(): number {
    return this.unshared;
  }
}
