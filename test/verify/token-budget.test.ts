// Each agent has a budget of new tokens per minute (TOKEN_VERIFY_PER_AGENT_PER_MINUTE): one agent flooding the
// registry with tokens of its own is refused as RATE_LIMITED, alone, instead of filling the replay memory every
// agent shares. Replays never spend the budget, and with Redis the budget is one for every process.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VerifyReason } from '../../gen/atr/v1/verify_pb.js';
import { SharedReplayGuard } from '../../src/cache/shared-replay-guard.ts';
import { createCommandClient } from '../../src/cache/redis-client.ts';
import { createRegistryClient, type RegistryClient } from '../../src/sdk/client.ts';
import { signToken } from '../../src/sdk/token.ts';
import { InMemoryReplayGuard, type ReplayCheck } from '../../src/verify/replay-guard.ts';
import { type ServerProcess, serverProcessPair } from '../support/server-process.ts';
import { runningServer } from '../support/server.ts';

const AUDIENCE = 'https://payments.example';
const MINUTE = 60_000;
/** The longest an id is remembered after its claim: token lifetime (300 s) plus clock skew (60 s). */
const LONGEST_MS = 360_000;

const at = (agent: string, jti: string, nowMs: number, expiresAtMs = nowMs + 60_000) => ({ agent, jti, expiresAtMs, nowMs });
const outcome = (check: ReplayCheck) => check.outcome;

describe('InMemoryReplayGuard budget per agent', () => {
  it('refuses the agent past its budget as rate_limited, and no other agent', () => {
    const guard = new InMemoryReplayGuard({ tokensPerAgentPerMinute: 3 });
    for (let i = 0; i < 3; i++) expect(outcome(guard.claim(at('a', `a-${i}`, 1_000 + i)))).toBe('claimed');
    expect(guard.claim(at('a', 'a-3', 1_010))).toEqual({ outcome: 'rate_limited', budget: 3, retryAtMs: 1_000 + MINUTE });
    expect(outcome(guard.claim(at('b', 'b-0', 1_020)))).toBe('claimed');
    expect(outcome(guard.claim(at('b', 'a-3', 1_030)))).toBe('claimed');
  });

  it('answers replays as replayed without spending the budget, also once it is spent', () => {
    const guard = new InMemoryReplayGuard({ tokensPerAgentPerMinute: 2 });
    expect(outcome(guard.claim(at('a', 'first', 0)))).toBe('claimed');
    for (let i = 1; i <= 50; i++) expect(outcome(guard.claim(at('a', 'first', i)))).toBe('replayed');
    expect(outcome(guard.claim(at('a', 'second', 100)))).toBe('claimed');
    expect(outcome(guard.claim(at('a', 'third', 101)))).toBe('rate_limited');
    expect(outcome(guard.claim(at('a', 'first', 102)))).toBe('replayed');
  });

  it('makes room again as claims leave the sliding minute; a refused token was not recorded', () => {
    const guard = new InMemoryReplayGuard({ tokensPerAgentPerMinute: 2 });
    guard.claim(at('a', 'one', 0));
    guard.claim(at('a', 'two', 30_000));
    const refused = guard.claim(at('a', 'three', 59_999, 200_000));
    expect(refused).toEqual({ outcome: 'rate_limited', budget: 2, retryAtMs: MINUTE });
    expect(outcome(guard.claim(at('a', 'three', MINUTE - 1, 200_000)))).toBe('rate_limited');
    expect(outcome(guard.claim(at('a', 'three', MINUTE, 200_000)))).toBe('claimed');
    expect(guard.claim(at('a', 'four', MINUTE + 1, 200_000))).toEqual({ outcome: 'rate_limited', budget: 2, retryAtMs: 90_000 });
  });

  it('holds at most the budget times six minutes of ids per agent, however long it floods', () => {
    const budget = 5;
    const guard = new InMemoryReplayGuard({ tokensPerAgentPerMinute: budget });
    let claimed = 0;
    let largest = 0;
    // One token every 2 s for 30 minutes, each valid for the longest a verifier accepts.
    for (let nowMs = 0; nowMs < 30 * MINUTE; nowMs += 2_000) {
      if (outcome(guard.claim(at('a', `t-${nowMs}`, nowMs, nowMs + LONGEST_MS))) === 'claimed') claimed += 1;
      largest = Math.max(largest, guard.size('a'));
    }
    expect(claimed).toBe(30 * budget);
    expect(largest).toBeLessThanOrEqual((budget * LONGEST_MS) / MINUTE);
    expect(largest).toBeGreaterThan(budget * 5);
  });

  it('forgets expired ids, and agents that stopped presenting tokens', () => {
    const guard = new InMemoryReplayGuard({ tokensPerAgentPerMinute: 100 });
    for (let i = 0; i < 10; i++) guard.claim(at('quiet', `q-${i}`, i, 10_000 + i));
    for (let i = 0; i < 10; i++) guard.claim(at('busy', `b-${i}`, 20 + i, 10_000 + i));
    expect(guard.size()).toBe(20);
    expect(outcome(guard.claim(at('busy', 'b-next', 10_005, 30_000)))).toBe('claimed');
    expect(guard.size('busy')).toBe(5);
    expect(guard.size('quiet')).toBe(4);
    expect(outcome(guard.claim(at('busy', 'b-0', 10_006, 30_000)))).toBe('claimed');
    // A minute after its last claim, with all its ids expired, the quiet agent keeps nothing.
    guard.claim(at('busy', 'b-later', MINUTE + 10, MINUTE + 70_000));
    expect(guard.size('quiet')).toBe(0);
    expect(guard.size()).toBe(1);
    expect(guard.agentCount()).toBe(1);
  });
});

describe('VerifyToken with a budget of 5 new tokens per agent and minute, through a real listener', () => {
  let client: RegistryClient;
  let cleanup: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    const started = await runningServer('sqlite', { tokenVerifyPerAgentPerMinute: 5 });
    cleanup = started.cleanup;
    client = createRegistryClient({ baseUrl: started.server.url });
  });
  afterAll(() => cleanup?.());

  it("refuses the agent's sixth new token as RATE_LIMITED, verifies another agent's, and still calls a replay REPLAYED", async () => {
    const signerA = await signerOn(client, 'flood-a.budget.test');
    const signerB = await signerOn(client, 'quiet-b.budget.test');
    const tokens = await Promise.all(Array.from({ length: 6 }, () => signerA()));

    for (const token of tokens.slice(0, 5)) expect((await verify(client, token)).reason).toBe(VerifyReason.VERIFIED);
    const sixth = await verify(client, tokens[5] ?? '');
    expect(sixth.verified).toBe(false);
    expect(sixth.reason).toBe(VerifyReason.RATE_LIMITED);
    expect(sixth.message).toMatch(/^rate limit: 5 new tokens per minute for agent flood-a\.budget\.test; retry in \d+ s$/);

    expect((await verify(client, await signerB())).reason).toBe(VerifyReason.VERIFIED);
    expect((await verify(client, tokens[0] ?? '')).reason).toBe(VerifyReason.REPLAYED);
  });
});

describe('VerifyToken budget shared by two processes through Redis', () => {
  let a: ServerProcess;
  let b: ServerProcess;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ a, b, stop } = await serverProcessPair('sqlite', {
      REDIS_URL: 'redis://127.0.0.1:6379',
      TRUST_DOMAIN: `budget-${randomBytes(6).toString('hex')}.test`,
      TOKEN_VERIFY_PER_AGENT_PER_MINUTE: '5',
    }));
  }, 60_000);
  afterAll(() => stop?.());

  it('counts an agent’s tokens on both processes against one budget, and no other agent’s', async () => {
    const onA = createRegistryClient({ baseUrl: a.url });
    const onB = createRegistryClient({ baseUrl: b.url });
    const signerA = await signerOn(onA, 'flood-a.shared-budget.test');
    const signerB = await signerOn(onA, 'quiet-b.shared-budget.test');
    const tokens = await Promise.all(Array.from({ length: 6 }, () => signerA()));

    const answers = [];
    for (const [i, token] of tokens.entries()) answers.push((await verify(i < 3 ? onA : onB, token)).reason);
    expect(answers).toEqual([...Array(5).fill(VerifyReason.VERIFIED), VerifyReason.RATE_LIMITED]);

    expect((await verify(onA, await signerB())).reason).toBe(VerifyReason.VERIFIED);
    expect((await verify(onB, await signerB())).reason).toBe(VerifyReason.VERIFIED);
    // Accepted on the first process, replayed to the second: replayed, not rate_limited.
    expect((await verify(onB, tokens[0] ?? '')).reason).toBe(VerifyReason.REPLAYED);
  });
});

describe('SharedReplayGuard in Redis', () => {
  let redis: Redis;
  const prefix = () => `atr:guard-${randomBytes(6).toString('hex')}.test:`;
  beforeAll(async () => {
    redis = createCommandClient('redis://127.0.0.1:6379');
    // Commands are not queued while connecting: until then the guards would decide alone.
    if (redis.status !== 'ready') await once(redis, 'ready');
  });
  afterAll(() => redis.disconnect());

  it('shares ids and budget between guards, and does not spend it on replays', async () => {
    const shared = prefix();
    const [one, two] = [0, 1].map(() => new SharedReplayGuard(redis, shared, { tokensPerAgentPerMinute: 2 })) as [SharedReplayGuard, SharedReplayGuard];
    const nowMs = Date.now();
    expect(outcome(await one.claim(at('a', 'x', nowMs)))).toBe('claimed');
    for (let i = 0; i < 5; i++) expect(outcome(await two.claim(at('a', 'x', nowMs + i)))).toBe('replayed');
    expect(outcome(await two.claim(at('a', 'y', nowMs + 10)))).toBe('claimed');
    expect(await one.claim(at('a', 'z', nowMs + 20))).toEqual({ outcome: 'rate_limited', budget: 2, retryAtMs: nowMs + MINUTE });
    expect(outcome(await two.claim(at('b', 'z', nowMs + 30)))).toBe('claimed');
    expect(one.unsharedClaims() + two.unsharedClaims()).toBe(0);
  });

  it('accepts one of two concurrent presentations of a token, in one process or two', async () => {
    const shared = prefix();
    const one = new SharedReplayGuard(redis, shared, { tokensPerAgentPerMinute: 10 });
    const two = new SharedReplayGuard(redis, shared, { tokensPerAgentPerMinute: 10 });
    const nowMs = Date.now();
    const same = await Promise.all([one.claim(at('a', 'p', nowMs)), one.claim(at('a', 'p', nowMs))]);
    const across = await Promise.all([one.claim(at('a', 'q', nowMs)), two.claim(at('a', 'q', nowMs))]);
    expect(same.map(outcome).sort()).toEqual(['claimed', 'replayed']);
    expect(across.map(outcome).sort()).toEqual(['claimed', 'replayed']);
  });

  it('keeps counting the budget in this process while Redis cannot be reached', async () => {
    const unreachable = createCommandClient('redis://127.0.0.1:1');
    try {
      const guard = new SharedReplayGuard(unreachable, prefix(), { tokensPerAgentPerMinute: 2 });
      const nowMs = Date.now();
      expect(outcome(await guard.claim(at('a', 'x', nowMs)))).toBe('claimed');
      expect(outcome(await guard.claim(at('a', 'x', nowMs + 1)))).toBe('replayed');
      expect(outcome(await guard.claim(at('a', 'y', nowMs + 2)))).toBe('claimed');
      expect(outcome(await guard.claim(at('a', 'z', nowMs + 3)))).toBe('rate_limited');
      expect(outcome(await guard.claim(at('b', 'z', nowMs + 4)))).toBe('claimed');
      expect(guard.unsharedClaims()).toBe(3);
    } finally {
      unreachable.disconnect();
    }
  });
});

/** Registers `agentName` and returns a function that signs a fresh token (a new jti) of it each call. */
async function signerOn(client: RegistryClient, agentName: string): Promise<() => Promise<string>> {
  const registered = await client.registry.registerAgent({ agentName, owner: 'o' });
  return () => signToken({ agentName, keyPem: registered.privateKeyPem, certPem: registered.certPem, audience: AUDIENCE });
}

function verify(client: RegistryClient, token: string) {
  return client.verify.verifyToken({ token, audience: AUDIENCE });
}
