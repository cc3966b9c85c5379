// Two registry processes on one database, both running workers: changes made on either reach the webhook once each
// (one dispatcher holds the lease; job ids make any second enqueue a no-op), and when the dispatching process goes
// away the other takes over from the saved cursor without losing or repeating an event.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegistryClient, createRegistryClient } from '../../src/sdk/client.ts';
import { dialects } from '../support/databases.ts';
import { serverProcessPair, type ServerProcess } from '../support/server-process.ts';
import { type Receiver, startReceiver, verificationFailure } from './receiver.ts';

describe.each(dialects)('webhooks from two processes on %s', (dialect) => {
  let a: ServerProcess;
  let b: ServerProcess;
  let stop: () => Promise<void>;
  let clientA: RegistryClient;
  let clientB: RegistryClient;
  let receiver: Receiver;
  let secret: string;
  const owner = 'pair-team';
  const name = (label: string) => `${label}.pair.${dialect}.example`;

  beforeAll(async () => {
    ({ a, b, stop } = await serverProcessPair(dialect, { WEBHOOK_ALLOW_PRIVATE: 'true', JOBS_POLL_MS: '50', EVENTS_POLL_MS: '100' }));
    clientA = createRegistryClient({ baseUrl: a.url });
    clientB = createRegistryClient({ baseUrl: b.url });
    receiver = await startReceiver();
    ({ secret } = await clientA.webhooks.createWebhook({ owner, url: receiver.url }));
  });
  afterAll(async () => {
    await receiver.close();
    await stop();
  });

  /** Every event id received once, none twice, each verified. */
  const expectOnceEach = (count: number) => {
    const ids = receiver.received.map((r) => String(r.headers['webhook-id']));
    expect(ids).toHaveLength(count);
    expect(new Set(ids).size).toBe(count);
    for (const got of receiver.received) expect(verificationFailure(secret, got.headers, got.body)).toBeUndefined();
  };

  it('delivers each change made on either process once', async () => {
    const agents = Array.from({ length: 10 }, (_, i) => name(`agent-${i}`));
    await Promise.all(agents.map((agentName, i) => (i % 2 === 0 ? clientA : clientB).registry.registerAgent({ agentName, owner })));
    await Promise.all(agents.map((agentName, i) => (i % 2 === 0 ? clientB : clientA).registry.revokeAgent({ agentName })));
    await receiver.until((got) => got.length >= 20);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expectOnceEach(20);
    const delivered = receiver.received.map((r) => JSON.parse(r.body) as { type: string; data: { agent_name: string } });
    for (const agentName of agents) {
      expect(delivered.filter((m) => m.data.agent_name === agentName).map((m) => m.type).sort()).toEqual(['agent.registered', 'agent.revoked']);
    }
  });

  it('goes on from the other process when one stops, from the saved cursor', async () => {
    const before = receiver.received.length;
    // Whichever holds the dispatch lease, the one left takes it over once the lease (15 s) runs out.
    await a.stop();
    const agents = Array.from({ length: 4 }, (_, i) => name(`after-${i}`));
    for (const agentName of agents) await clientB.registry.registerAgent({ agentName, owner });
    await receiver.until((got) => got.length >= before + 4, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expectOnceEach(before + 4);
    const late = receiver.received.slice(before).map((r) => (JSON.parse(r.body) as { data: { agent_name: string } }).data.agent_name);
    expect(late.sort()).toEqual([...agents].sort());
  }, 45_000);
});
