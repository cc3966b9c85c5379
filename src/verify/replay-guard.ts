/** A token the verifier has otherwise accepted, presented now: whose it is, its id, and until when it is valid. */
export interface TokenPresentation {
  /** The agent that signed it: ids, budgets and memory are kept per agent, so one agent cannot crowd out another. */
  readonly agent: string;
  readonly jti: string;
  readonly expiresAtMs: number;
  readonly nowMs: number;
}

/**
 * claimed: first presentation, now recorded; replayed: seen before; rate_limited: the agent has had its budget of
 * new tokens in the last minute, so this one is not recorded (retry at retryAtMs); full: the last-resort cap on
 * all agents' ids together is reached, so it cannot be recorded and is not accepted.
 */
export type ReplayCheck =
  | { readonly outcome: 'claimed' | 'replayed' | 'full' }
  | { readonly outcome: 'rate_limited'; readonly budget: number; readonly retryAtMs: number };

/** Remembers token ids until their tokens expire, so each token is accepted once, and counts each agent's new ones. */
export interface ReplayGuard {
  /**
   * A known id is `replayed` without spending the budget, or a captured token replayed in a loop would lock its
   * agent out; else an agent over its budget is `rate_limited`; else the id is recorded. Check and record are one
   * step, so two concurrent presentations of one token cannot both pass.
   */
  claim(presentation: TokenPresentation): ReplayCheck | Promise<ReplayCheck>;
}

export const CLAIMED: ReplayCheck = { outcome: 'claimed' };
export const REPLAYED: ReplayCheck = { outcome: 'replayed' };
const FULL: ReplayCheck = { outcome: 'full' };

/** The budget counts an agent's new tokens in the last minute, a sliding window: no double burst at a boundary. */
export const TOKEN_BUDGET_WINDOW_MS = 60_000;

/**
 * The last resort, over all agents' unexpired ids together (some 120 bytes each with a UUID jti: 60 MB). The
 * budget bounds each agent (see InMemoryReplayGuard), to 7,200 ids at the default 1,200 a minute, so this bites
 * only when some 70 agents flood at their full budget at once; then every agent's new tokens are refused (`full`)
 * until ids expire, rather than an id being forgotten while its token could still be replayed.
 */
export const DEFAULT_REPLAY_CAPACITY = 500_000;

/** A guard at its cap looks through every agent for expired ids at most this often, not on every call of a flood. */
const FULL_SWEEP_INTERVAL_MS = 1_000;

export interface InMemoryReplayGuardOptions {
  /** New tokens (distinct jti) one agent may have accepted in any minute: TOKEN_VERIFY_PER_AGENT_PER_MINUTE. */
  readonly tokensPerAgentPerMinute: number;
  readonly capacity?: number;
}

/** One agent's unexpired ids, and when it claimed its tokens of the last window. */
class AgentMemory {
  /** jti → expiry, in the order claimed. */
  readonly expiries = new Map<string, number>();
  /** Claim times, oldest first; those before `first` have left the window (dropped in batches, not one shift each). */
  private claimTimes: number[] = [];
  private first = 0;

  knows(jti: string, nowMs: number): boolean {
    const expiresAtMs = this.expiries.get(jti);
    return expiresAtMs !== undefined && expiresAtMs > nowMs;
  }

  /** Ids this agent has had accepted in the window ending now. */
  claimsInWindow(nowMs: number): number {
    const windowStart = nowMs - TOKEN_BUDGET_WINDOW_MS;
    while ((this.claimTimes[this.first] ?? Infinity) <= windowStart) this.first += 1;
    if (this.first > 0 && this.first * 2 >= this.claimTimes.length) {
      this.claimTimes = this.claimTimes.slice(this.first);
      this.first = 0;
    }
    return this.claimTimes.length - this.first;
  }

  /** When the oldest claim in the window leaves it, making room for one more. */
  nextRoomAt(): number {
    return (this.claimTimes[this.first] ?? 0) + TOKEN_BUDGET_WINDOW_MS;
  }

  countClaim(nowMs: number): void {
    this.claimTimes.push(nowMs);
  }

  /** Ids are claimed roughly in expiry order (lifetimes are at most minutes), so expired ones gather at the front. */
  forgetExpired(nowMs: number): number {
    let forgotten = 0;
    for (const [jti, expiresAtMs] of this.expiries) {
      if (expiresAtMs > nowMs) break;
      this.expiries.delete(jti);
      forgotten += 1;
    }
    return forgotten;
  }

  idle(nowMs: number): boolean {
    return this.expiries.size === 0 && this.claimsInWindow(nowMs) === 0;
  }
}

/**
 * One process's memory of token ids and per-agent budgets; across processes, SharedReplayGuard adds Redis.
 *
 * Memory is bounded per agent: every unexpired id was claimed within the last token lifetime plus clock skew
 * (exp ≤ iat + 300 s, iat ≤ now + 60 s; the front id is unexpired and the rest were claimed after it), and no
 * minute holds more than the budget, so an agent holds at most 6 × its per-minute budget. Agents are kept in the
 * order they last presented a new token, and each call drops the idle ones at the front, so an agent that stops
 * presenting tokens is forgotten within those 6 minutes (once anyone presents one). The capacity is the global
 * last resort (DEFAULT_REPLAY_CAPACITY).
 */
export class InMemoryReplayGuard implements ReplayGuard {
  private readonly agents = new Map<string, AgentMemory>();
  private readonly budget: number;
  private readonly capacity: number;
  private ids = 0;
  private nextFullSweepMs = -Infinity;

  constructor(options: InMemoryReplayGuardOptions) {
    this.budget = options.tokensPerAgentPerMinute;
    this.capacity = options.capacity ?? DEFAULT_REPLAY_CAPACITY;
  }

  claim(presentation: TokenPresentation): ReplayCheck {
    const held = this.hold(presentation);
    return held === 'held' ? this.spend(presentation) : held;
  }

  /**
   * The first half of a claim: a known id is replayed; else the id is recorded (held), budget not yet spent, so that
   * a concurrent presentation of the same token sees it while SharedReplayGuard asks Redis. Follow with spend,
   * countClaim or release.
   */
  hold(presentation: TokenPresentation): 'held' | ReplayCheck {
    const { agent, jti, expiresAtMs, nowMs } = presentation;
    this.forgetIdleAgents(nowMs);
    const memory = this.agents.get(agent);
    if (memory?.knows(jti, nowMs)) return REPLAYED;
    if (this.ids >= this.capacity) this.forgetExpiredEverywhere(nowMs);
    if (this.ids >= this.capacity) return FULL;
    const recorded = memory ?? new AgentMemory();
    // To the back: agents stay in the order they last presented a new token, so the idle ones gather at the front.
    this.agents.delete(agent);
    this.agents.set(agent, recorded);
    this.ids -= recorded.forgetExpired(nowMs);
    this.ids -= recorded.expiries.delete(jti) ? 1 : 0; // an expired id, presented again, goes to the back
    recorded.expiries.set(jti, expiresAtMs);
    this.ids += 1;
    return 'held';
  }

  /** For a held id: within the agent's budget it is claimed and counted; over it, released and rate_limited. */
  spend(presentation: TokenPresentation): ReplayCheck {
    const memory = this.agents.get(presentation.agent);
    // Dropped by a later call while SharedReplayGuard waited for Redis: hold it again, as of the same instant.
    if (memory === undefined) return this.claim(presentation);
    if (memory.claimsInWindow(presentation.nowMs) >= this.budget) {
      this.release(presentation);
      return { outcome: 'rate_limited', budget: this.budget, retryAtMs: memory.nextRoomAt() };
    }
    memory.countClaim(presentation.nowMs);
    return CLAIMED;
  }

  /** For a held id another process's guard (Redis) claimed within the shared budget: count it here too. */
  countClaim(presentation: TokenPresentation): void {
    this.agents.get(presentation.agent)?.countClaim(presentation.nowMs);
  }

  /** Forgets a held id this guard did not claim: refused for the budget, or claimed by another process. */
  release(presentation: TokenPresentation): void {
    if (this.agents.get(presentation.agent)?.expiries.delete(presentation.jti)) this.ids -= 1;
  }

  /** Ids kept for `agent`, or for all agents: unexpired ones, and expired ones not yet dropped. */
  size(agent?: string): number {
    return agent === undefined ? this.ids : (this.agents.get(agent)?.expiries.size ?? 0);
  }

  /** Agents with ids kept or claims in the last window. */
  agentCount(): number {
    return this.agents.size;
  }

  private forgetIdleAgents(nowMs: number): void {
    for (const [agent, memory] of this.agents) {
      this.ids -= memory.forgetExpired(nowMs);
      if (!memory.idle(nowMs)) return;
      this.agents.delete(agent);
    }
  }

  private forgetExpiredEverywhere(nowMs: number): void {
    if (nowMs < this.nextFullSweepMs) return;
    this.nextFullSweepMs = nowMs + FULL_SWEEP_INTERVAL_MS;
    for (const [agent, memory] of this.agents) {
      this.ids -= memory.forgetExpired(nowMs);
      if (memory.idle(nowMs)) this.agents.delete(agent);
    }
  }
}
