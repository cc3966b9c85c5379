// node --import tsx test/webhooks/throughput.ts [--events N] [--revokes N]
//
// Webhook delivery figures on SQLite (and PostgreSQL when ATR_TEST_POSTGRES_URL is set), to a receiver on 127.0.0.1
// that answers 204 at once:
// - backlog: N agents registered while no process runs workers, then one worker process (an App with
//   WORKERS_ENABLED) started: deliveries/s from its start until the receiver has all N (dispatch, queue, signing,
//   POST, delivery log);
// - revoke → received: a server running workers, one revoke at a time, from the call to the receiver's request.
import { parseArgs } from 'node:util';
import { createApp } from '../../src/server/app.ts';
import { startServer } from '../../src/server/server.ts';
import { createRegistryClient } from '../../src/sdk/client.ts';
import { dialects } from '../support/databases.ts';
import { testEnvironment } from '../support/server.ts';
import { startReceiver } from './receiver.ts';

const { values: flags } = parseArgs({ options: { events: { type: 'string', default: '2000' }, revokes: { type: 'string', default: '50' } } });
const EVENTS = Number(flags.events);
const REVOKES = Number(flags.revokes);
const common = { webhookAllowPrivate: true, jobsPollMs: 50 } as const;

async function backlog(dialect: (typeof dialects)[number]): Promise<number> {
  const environment = await testEnvironment(dialect, { ...common, workersEnabled: false });
  const server = await startServer(environment.config);
  const receiver = await startReceiver();
  try {
    const client = createRegistryClient({ baseUrl: server.url });
    await client.webhooks.createWebhook({ owner: 'bench', url: receiver.url });
    for (let i = 0; i < EVENTS; i += 32) {
      const batch = Array.from({ length: Math.min(32, EVENTS - i) }, (_, j) => client.registry.registerAgent({ agentName: `agent-${i + j}.hooks.bench.example`, owner: 'bench' }));
      await Promise.all(batch);
    }
    const started = performance.now();
    const worker = await createApp({ ...environment.config, publicUrl: server.url, workersEnabled: true });
    try {
      await receiver.until((got) => got.length >= EVENTS, 600_000);
      return EVENTS / ((performance.now() - started) / 1000);
    } finally {
      await worker.close();
    }
  } finally {
    await receiver.close();
    await server.close();
    await environment.cleanup();
  }
}

async function revokeLatency(dialect: (typeof dialects)[number]): Promise<number[]> {
  const environment = await testEnvironment(dialect, common);
  const server = await startServer(environment.config);
  const receiver = await startReceiver();
  try {
    const client = createRegistryClient({ baseUrl: server.url });
    await client.webhooks.createWebhook({ owner: 'bench', url: receiver.url, eventTypes: ['agent.revoked'] });
    const delays: number[] = [];
    for (let i = 0; i < REVOKES; i++) {
      const agentName = `revoked-${i}.hooks.bench.example`;
      await client.registry.registerAgent({ agentName, owner: 'bench' });
      const started = performance.now();
      await client.registry.revokeAgent({ agentName });
      await receiver.until((got) => got.length > i);
      delays.push(receiver.received[i]!.at - started);
    }
    return delays.sort((a, b) => a - b);
  } finally {
    await receiver.close();
    await server.close();
    await environment.cleanup();
  }
}

const rows: string[] = ['| Database | Backlog deliveries/s | Revoke → received p50 | p95 | max |', '| --- | --- | --- | --- | --- |'];
for (const dialect of dialects) {
  const perSecond = await backlog(dialect);
  const delays = await revokeLatency(dialect);
  const at = (q: number) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))]!.toFixed(1);
  rows.push(`| ${dialect} | ${perSecond.toFixed(0)} (${EVENTS} events) | ${at(0.5)} ms | ${at(0.95)} ms | ${delays.at(-1)!.toFixed(1)} ms |`);
}
console.log(rows.join('\n'));
