import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  CLAIMED,
  InMemoryReplayGuard,
  type InMemoryReplayGuardOptions,
  REPLAYED,
  type ReplayCheck,
  type ReplayGuard,
  TOKEN_BUDGET_WINDOW_MS,
  type TokenPresentation,
} from '../verify/replay-guard.ts';

/**
 * One token presentation, decided atomically: a known id is replayed (the budget untouched); else the agent's
 * claims of the last window (a sorted set scored by claim time) are counted, and at the budget the answer is
 * rate_limited with the time the oldest leaves the window; else the claim is counted and the id stored until the
 * token expires.
 * KEYS: id, agent's claims. ARGV: now ms, ms until expiry, budget, window ms, this claim's member.
 */
const CLAIM_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return {'replayed'} end
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {'rate_limited', oldest[2]}
end
redis.call('ZADD', KEYS[2], now, ARGV[5])
redis.call('PEXPIRE', KEYS[2], window)
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
return {'claimed'}
`;

/**
 * Token ids and per-agent budgets kept in Redis, so a token accepted by one registry process is refused by every
 * other, and an agent's budget is one for the whole registry: one script per new token checks, counts and records
 * in one step. This process's memory is asked first (a replay of a token claimed here costs no round trip, and
 * two concurrent presentations here are told apart before either reaches Redis) and keeps every id this process
 * claims, so a replay to this process is caught even while Redis cannot be reached. During such an outage this
 * process decides alone, counting the budget with the claims it made itself, and a replay to another process is
 * not caught (unsharedClaims says how often that was possible).
 */
export class SharedReplayGuard implements ReplayGuard {
  private readonly local: InMemoryReplayGuard;
  private readonly budget: number;
  private unshared = 0;

  constructor(
    private readonly redis: Redis,
    /** `atr:<trust domain>:`: the processes of one registry share it. */
    private readonly prefix: string,
    options: InMemoryReplayGuardOptions,
  ) {
    this.local = new InMemoryReplayGuard(options);
    this.budget = options.tokensPerAgentPerMinute;
  }

  async claim(presentation: TokenPresentation): Promise<ReplayCheck> {
    const held = this.local.hold(presentation);
    if (held !== 'held') return held;
    let shared: ReplayCheck;
    try {
      shared = await this.claimInRedis(presentation);
    } catch {
      const alone = this.local.spend(presentation);
      if (alone.outcome === 'claimed') this.unshared += 1;
      return alone;
    }
    // Only ids claimed here are kept here: each was counted against the budget, which bounds this memory too.
    if (shared.outcome === 'claimed') this.local.countClaim(presentation);
    else this.local.release(presentation);
    return shared;
  }

  /** Claims decided by this process alone because Redis could not be reached. */
  unsharedClaims(): number {
    return this.unshared;
  }

  private async claimInRedis({ agent, jti, expiresAtMs, nowMs }: TokenPresentation): Promise<ReplayCheck> {
    // Both keys carry the agent's hash tag, so the script's keys share a slot on a Redis Cluster too.
    const agentKey = `${this.prefix}token:{${digest(agent)}}:`;
    const id = digest(jti);
    const answer = await this.redis.eval(
      CLAIM_SCRIPT,
      2,
      `${agentKey}jti:${id}`,
      `${agentKey}claims`,
      nowMs,
      Math.max(1, expiresAtMs - nowMs),
      this.budget,
      TOKEN_BUDGET_WINDOW_MS,
      id,
    );
    return checkOf(answer, this.budget);
  }
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

function checkOf(answer: unknown, budget: number): ReplayCheck {
  const [outcome, oldestClaimMs] = Array.isArray(answer) ? (answer as unknown[]) : [];
  if (outcome === 'claimed') return CLAIMED;
  if (outcome === 'replayed') return REPLAYED;
  if (outcome === 'rate_limited') return { outcome, budget, retryAtMs: Number(oldestClaimMs) + TOKEN_BUDGET_WINDOW_MS };
  throw new Error(`unexpected answer from the token claim script: ${JSON.stringify(answer)}`);
}
