// Two registry processes on one database, both caching lookups: after a revoke through A returns, A never answers
// 'active' for the agent, and B stops within a second (the bound) and never goes back. With Redis, B keeps
// lookups in memory for a minute and its revocation feed polls once a minute, so only the cache's own invalidation
// (versions in Redis, the announcement on the bus) can bring it there in time; without Redis, B's memory expires
// within CACHE_LOCAL_TTL_MS (1 s) and its revocation feed drops the agent sooner.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import { VerifyReason } from '../../gen/atr/v1/verify_pb.js';
import { dialects } from '../support/databases.ts';
import { type ServerProcess, serverProcessPair } from '../support/server-process.ts';
import { type RegistryClients, registryClients } from './clients.ts';

const BOUND_MS = 1_000;
const WATCH_MS = 1_500;

const paths = dialects.flatMap((dialect) => [
  {
    dialect,
    via: 'Redis',
    env: { REDIS_URL: 'redis://127.0.0.1:6379', CACHE_LOCAL_TTL_MS: '60000', REVOCATION_POLL_MS: '60000' },
  },
  { dialect, via: 'memory only', env: { REDIS_ENABLED: 'false' } },
]);


/** Whether the process answers 'active' for the agent, by resolve and by verifying its certificate. */
async function answers(on: RegistryClients, agentName: string, certPem: string): Promise<{ resolved: AgentStatus; verified: VerifyReason }> {
  const [resolved, verified] = await Promise.all([on.resolve.resolveAgent({ agentName }), on.verify.verifyCertificate({ certPem })]);
  return { resolved: resolved.status, verified: verified.reason };
}

describe.each(paths)('two registry processes on one $dialect database, lookups cached, $via', ({ dialect, env: extra }) => {
  let a: ServerProcess;
  let b: ServerProcess;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ a, b, stop } = await serverProcessPair(dialect, { TRUST_DOMAIN: `cache-two-${randomBytes(6).toString('hex')}.test`, ...extra }));
  }, 60_000);
  afterAll(() => stop?.());

  it('answer revoked for a revoked agent: the process that revoked it at once, the other within a second', async () => {
    const onA = registryClients(a.url);
    const onB = registryClients(b.url);
    const agentName = `cached.${dialect}.example`;
    const { certPem } = await onA.registry.registerAgent({ agentName, owner: 'o' });
    for (const on of [onA, onB, onA, onB]) {
      expect(await answers(on, agentName, certPem)).toEqual({ resolved: AgentStatus.ACTIVE, verified: VerifyReason.VERIFIED });
    }

    await onA.registry.revokeAgent({ agentName, reason: 'keyCompromise' });
    const revokedAt = performance.now();
    expect(await answers(onA, agentName, certPem)).toEqual({ resolved: AgentStatus.REVOKED, verified: VerifyReason.REVOKED });

    const seen: { afterMs: number; revoked: boolean; resolved: AgentStatus; verified: VerifyReason }[] = [];
    while (performance.now() - revokedAt < WATCH_MS) {
      // When the read was asked, not when it came back: a read asked inside the bound may answer after it.
      const askedMs = Math.round(performance.now() - revokedAt);
      const { resolved, verified } = await answers(onB, agentName, certPem);
      const revoked = resolved === AgentStatus.REVOKED && verified === VerifyReason.REVOKED;
      seen.push({ afterMs: askedMs, revoked, resolved, verified });
    }
    const firstRevoked = seen.findIndex((answer) => answer.revoked);
    expect(firstRevoked).toBeGreaterThanOrEqual(0);
    // Once B answers revoked it never answers active again, and past the bound it answers nothing else.
    expect(seen.slice(firstRevoked).filter((answer) => !answer.revoked)).toEqual([]);
    expect(seen.filter((answer) => answer.afterMs > BOUND_MS && !answer.revoked)).toEqual([]);
    expect(await answers(onA, agentName, certPem)).toEqual({ resolved: AgentStatus.REVOKED, verified: VerifyReason.REVOKED });
  });

  // Updates do not retire certificates, so no revocation feed reports them: only the cache's own invalidation does.
  it('answer with an update: the process that made it at once, the other within a second', async () => {
    const onA = registryClients(a.url);
    const onB = registryClients(b.url);
    const agentName = `updated.${dialect}.example`;
    await onA.registry.registerAgent({ agentName, owner: 'o', description: 'before' });
    for (const on of [onA, onB, onA, onB]) expect((await on.resolve.resolveAgent({ agentName })).description).toBe('before');

    await onA.registry.updateAgent({ agentName, description: 'after' });
    const updatedAt = performance.now();
    expect((await onA.resolve.resolveAgent({ agentName })).description).toBe('after');
    const seen: { afterMs: number; description: string }[] = [];
    while (performance.now() - updatedAt < WATCH_MS) {
      const askedMs = Math.round(performance.now() - updatedAt);
      const { description } = await onB.resolve.resolveAgent({ agentName });
      seen.push({ afterMs: askedMs, description });
    }
    const first = seen.findIndex((answer) => answer.description === 'after');
    expect(first).toBeGreaterThanOrEqual(0);
    expect(seen.slice(first).filter((answer) => answer.description !== 'after')).toEqual([]);
    expect(seen.filter((answer) => answer.afterMs > BOUND_MS && answer.description !== 'after')).toEqual([]);
  });
});
