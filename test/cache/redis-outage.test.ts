// Redis stopped (SHUTDOWN) and killed (SIGKILL) under load, and started again: a registry server reading through
// the cache answers every request from the database meanwhile, says degraded on /readyz, reconnects by itself, and
// no revoke is lost, neither one made while Redis was down nor one whose old entries a restart brought back.
// The Redis here is the test's own (test/cache/own-redis.ts), never the shared one.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import { VerifyReason } from '../../gen/atr/v1/verify_pb.js';
import type { RunningServer } from '../../src/server/server.ts';
import { dialects } from '../support/databases.ts';
import { runningServer } from '../support/server.ts';
import { type RegistryClients, registryClients } from './clients.ts';
import { type OwnRedis, ownRedis } from './own-redis.ts';

interface Registered {
  readonly agentName: string;
  readonly certPem: string;
}

describe.each(dialects)('a registry on %s whose Redis goes away under load', (dialect) => {
  let redis: OwnRedis;
  let server: RunningServer;
  let cleanup: () => Promise<void>;
  let trustDomain: string;
  let api: RegistryClients;

  beforeAll(async () => {
    redis = await ownRedis();
    trustDomain = `outage-${randomBytes(6).toString('hex')}.test`;
    // The bus logs each outage and its end; that is expected here, so nothing is logged.
    const running = await runningServer(dialect, { redisUrl: redis.url, trustDomain, mtlsEnabled: false, logLevel: 'silent' });
    server = running.server;
    cleanup = running.cleanup;
    api = registryClients(server.url);
    await vi.waitFor(() => expect(server.app.cache?.stats().redis?.serving).toBe(true), { timeout: 10_000, interval: 20 });
  });
  afterAll(async () => {
    await cleanup?.();
    await redis?.close();
  });

  const readiness = async () => (await fetch(`${server.url}/readyz`)).json() as Promise<{ status: string; checks: Record<string, string> }>;
  const untilReadiness = (status: string, redisCheck: string) =>
    vi.waitFor(async () => expect(await readiness()).toEqual({ status, checks: { database: 'ok', redis: redisCheck } }), {
      timeout: 15_000,
      interval: 20,
    });
  const register = async (label: string): Promise<Registered> => {
    const agentName = `${label}-${randomBytes(4).toString('hex')}.example`;
    const { certPem } = await api.registry.registerAgent({ agentName, owner: 'o' });
    return { agentName, certPem };
  };
  const status = async (agent: Registered) => ({
    resolved: (await api.resolve.resolveAgent({ agentName: agent.agentName })).status,
    verified: (await api.verify.verifyCertificate({ certPem: agent.certPem })).reason,
  });
  const active = { resolved: AgentStatus.ACTIVE, verified: VerifyReason.VERIFIED };
  const revoked = { resolved: AgentStatus.REVOKED, verified: VerifyReason.REVOKED };

  // Two outages, each ended by the client's own reconnect, whose backoff grows to seconds: a longer timeout.
  it('answers every request while Redis is shut down, killed and started again, and loses no revoke', async () => {
    const population = await Promise.all(Array.from({ length: 10 }, (_, i) => register(`load-${i}`)));
    const load = startLoad(api, population);
    try {
      for (const how of ['shutdown', 'kill'] as const) {
        const agent = await register(how);
        await vi.waitFor(async () => expect(server.app.cache?.stats().redis?.hits).toBeGreaterThan(0), { timeout: 5_000 });
        for (let i = 0; i < 2; i++) expect(await status(agent)).toEqual(active);

        await redis.stop(how);
        await untilReadiness('degraded', 'unavailable');
        const servedBefore = load.served();
        await api.registry.revokeAgent({ agentName: agent.agentName, reason: 'keyCompromise' });
        expect(await status(agent)).toEqual(revoked);
        await vi.waitFor(() => expect(load.served()).toBeGreaterThan(servedBefore + 50), { timeout: 10_000 });

        await redis.start();
        await untilReadiness('ready', 'ok');
        await vi.waitFor(() => expect(server.app.cache?.stats().redis?.serving).toBe(true), { timeout: 10_000, interval: 20 });
        const hitsBefore = server.app.cache!.stats().redis!.hits;
        await vi.waitFor(() => expect(server.app.cache?.stats().redis?.hits).toBeGreaterThan(hitsBefore + 50), { timeout: 10_000 });
        expect(await status(agent)).toEqual(revoked);
      }
      const afterwards = await register('after');
      for (let i = 0; i < 2; i++) expect(await status(afterwards)).toEqual(active);
      await api.registry.revokeAgent({ agentName: afterwards.agentName });
      expect(await status(afterwards)).toEqual(revoked);
    } finally {
      const { failures, counts } = await load.stop();
      expect(failures).toEqual([]);
      expect(counts).toEqual({ resolve: expect.any(Number), verify: expect.any(Number), register: expect.any(Number) });
      expect(Math.min(counts.resolve, counts.verify, counts.register)).toBeGreaterThan(0);
    }
  }, 120_000);

  it('does not use the entries a restarted Redis loaded from an old snapshot', async () => {
    const agent = await register('snapshot');
    for (let i = 0; i < 2; i++) expect(await status(agent)).toEqual(active);
    await redis.client.save();
    const oldRunId = /^run_id:(\w+)/m.exec(await redis.client.info('server'))?.[1];
    // The revoke gives the agent a new version, in memory only: the snapshot still holds the old version and the
    // entries stored under it.
    await api.registry.revokeAgent({ agentName: agent.agentName, reason: 'keyCompromise' });
    // The revocation feed invalidates the agent once more when it reads the revoke; let that land before the kill.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(server.app.cache?.stats().redis?.pendingInvalidations).toBe(0);
    await redis.stop('kill');
    await redis.start();
    await vi.waitFor(() => expect(server.app.cache?.stats().redis?.serving).toBe(true), { timeout: 15_000, interval: 20 });

    const keys = `atr:${trustDomain}:cache:1:{${agent.agentName}}`;
    const [version, entry] = await redis.client.mget(`${keys}:v`, `${keys}:agent`);
    expect(entry).toContain('"state":"active"');
    expect(entry?.startsWith(`${oldRunId}/${version} `)).toBe(true);
    // Entry and version match as they did before the revoke; only the server's new run_id tells them apart.
    expect(await status(agent)).toEqual(revoked);
  });
});


/** Eight callers resolving and verifying the population's agents, and registering new ones, until stopped. */
function startLoad(api: RegistryClients, population: readonly Registered[]) {
  const counts = { resolve: 0, verify: 0, register: 0 };
  const failures: string[] = [];
  let running = true;
  let next = 0;
  const call = async (i: number) => {
    const agent = population[i % population.length]!;
    if (i % 20 === 0) {
      await api.registry.registerAgent({ agentName: `loaded-${i}-${randomBytes(3).toString('hex')}.example`, owner: 'o' });
      counts.register++;
    } else if (i % 2 === 0) {
      const answer = await api.resolve.resolveAgent({ agentName: agent.agentName });
      if (answer.status !== AgentStatus.ACTIVE) throw new Error(`resolve ${agent.agentName}: status ${answer.status}`);
      counts.resolve++;
    } else {
      const answer = await api.verify.verifyCertificate({ certPem: agent.certPem });
      if (!answer.verified) throw new Error(`verify ${agent.agentName}: ${answer.message}`);
      counts.verify++;
    }
  };
  const worker = async () => {
    while (running) {
      try {
        await call(next++);
      } catch (error) {
        failures.push(String(error));
      }
    }
  };
  const workers = Promise.all(Array.from({ length: 8 }, worker));
  return {
    served: () => counts.resolve + counts.verify + counts.register,
    async stop() {
      running = false;
      await workers;
      return { failures, counts };
    },
  };
}
