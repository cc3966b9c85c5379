// A token's jti is accepted once by the whole registry, not once per process: with Redis, a token verified by one
// process is REPLAYED on another.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VerifyReason } from '../../gen/atr/v1/verify_pb.js';
import { SharedReplayGuard } from '../../src/cache/shared-replay-guard.ts';
import { createCommandClient } from '../../src/cache/redis-client.ts';
import { createRegistryClient } from '../../src/sdk/client.ts';
import { signToken } from '../../src/sdk/token.ts';
import { dialects } from '../support/databases.ts';
import { type ServerProcess, serverProcessPair } from '../support/server-process.ts';

const AUDIENCE = 'https://payments.example';

describe.each(dialects)('token replay across two processes on %s', (dialect) => {
  let a: ServerProcess;
  let b: ServerProcess;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ a, b, stop } = await serverProcessPair(dialect, {
      REDIS_URL: 'redis://127.0.0.1:6379',
      TRUST_DOMAIN: `replay-${randomBytes(6).toString('hex')}.test`,
    }));
  }, 60_000);
  afterAll(() => stop?.());

  it('refuses on one process a token another process accepted, and accepts each new token once', async () => {
    const onA = createRegistryClient({ baseUrl: a.url });
    const onB = createRegistryClient({ baseUrl: b.url });
    const registered = await onA.registry.registerAgent({ agentName: `signer.${dialect}.example`, owner: 'o' });
    const sign = () => signToken({ agentName: registered.agent?.agentName ?? '', keyPem: registered.privateKeyPem, certPem: registered.certPem, audience: AUDIENCE });

    const token = await sign();
    expect((await onA.verify.verifyToken({ token, audience: AUDIENCE })).reason).toBe(VerifyReason.VERIFIED);
    expect((await onB.verify.verifyToken({ token, audience: AUDIENCE })).reason).toBe(VerifyReason.REPLAYED);

    // Presented to both at once: exactly one accepts it.
    const raced = await sign();
    const answers = await Promise.all([onA, onB].map((client) => client.verify.verifyToken({ token: raced, audience: AUDIENCE })));
    expect(answers.map((answer) => answer.reason).sort()).toEqual([VerifyReason.VERIFIED, VerifyReason.REPLAYED].sort());
  });
});

describe('SharedReplayGuard without Redis', () => {
  it('falls back to this process: a replay here is still refused, and the outage is counted', async () => {
    const redis = createCommandClient('redis://127.0.0.1:1');
    try {
      const guard = new SharedReplayGuard(redis, 'atr:unreachable.test:', { tokensPerAgentPerMinute: 100 });
      const nowMs = Date.now();
      const presentation = { agent: 'agent', jti: 'jti-1', expiresAtMs: nowMs + 60_000, nowMs };
      expect((await guard.claim(presentation)).outcome).toBe('claimed');
      expect((await guard.claim(presentation)).outcome).toBe('replayed');
      expect(guard.unsharedClaims()).toBe(1);
    } finally {
      redis.disconnect();
    }
  });
});
