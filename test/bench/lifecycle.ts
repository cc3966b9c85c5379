// Expiries in bulk while agents are resolved: a registry process (serve.ts) with the lifecycle sweep every 2 s; this
// process resolves an agent over gRPC, 16 calls in flight, first with nothing to sweep (idle), then after `expiries`
// lapsed agents were written straight into the database, until the sweep has recorded every one of them (audit event,
// log leaf and mark each). The rows: resolve p50/p99 idle and during the sweep, and expiries recorded per second.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveAgentRequestSchema, ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { type Database, openDatabase } from '../../src/db/orm.ts';
import { benchProcessEnv, serveProcess } from './bench-process.ts';
import { GrpcLoad } from './grpc-load.ts';

export interface LifecycleRow {
  readonly expiries: number;
  readonly sweepSeconds: number;
  readonly expiriesPerSecond: number;
  readonly idle: { readonly p50Ms: number; readonly p99Ms: number; readonly perSecond: number };
  readonly during: { readonly p50Ms: number; readonly p99Ms: number; readonly perSecond: number };
}

const IN_FLIGHT = 16;
const CHUNK = 400;

export async function measureLifecycle(options: { expiries: number; seconds: number }): Promise<LifecycleRow> {
  const dir = mkdtempSync(join(tmpdir(), 'atr-bench-lifecycle-'));
  const databaseUrl = process.env['DATABASE_URL'] ?? `sqlite:///${join(dir, 'atr.db')}`;
  const { child, url } = await serveProcess(benchProcessEnv({ dir, databaseUrl, LIFECYCLE_INTERVAL_SECONDS: '2', JOBS_POLL_MS: '200' }));
  const database = await openDatabase(databaseUrl);
  const load = new GrpcLoad(url);
  try {
    await createClient(RegistryService, createGrpcTransport({ baseUrl: url })).registerAgent({ agentName: 'live.lifecycle.example', owner: 'bench' });
    const frame = load.frame(ResolveAgentRequestSchema, { agentName: 'live.lifecycle.example' });
    const resolve = () => load.call(ResolveService.method.resolveAgent, frame);
    const idle = await closedLoop(resolve, () => false, options.seconds * 1000);
    await seedLapsed(database, options.expiries);
    const started = performance.now();
    let recorded = 0;
    const poll = setInterval(() => void marks(database).then((count) => (recorded = count)), 250);
    const during = await closedLoop(resolve, () => recorded >= options.expiries, 30 * 60_000);
    clearInterval(poll);
    const sweepSeconds = (performance.now() - started) / 1000;
    return { expiries: options.expiries, sweepSeconds: round(sweepSeconds), expiriesPerSecond: Math.round(options.expiries / sweepSeconds), idle, during };
  } finally {
    load.close();
    child.kill('SIGTERM');
    await database.orm.close();
  }
}

/** Active agents whose current certificates lapsed an hour ago, written in chunks as a bulk import would. */
async function seedLapsed(database: Database, count: number): Promise<void> {
  const knex = database.orm.em.getKnex();
  const now = new Date();
  const lapsed = new Date(now.getTime() - 3600_000);
  const issued = new Date(now.getTime() - 31 * 86_400_000);
  for (let start = 0; start < count; start += CHUNK) {
    const size = Math.min(CHUNK, count - start);
    await knex.transaction(async (trx) => {
      const names = Array.from({ length: size }, (_, i) => `lapsed-${start + i}.lifecycle.example`);
      await trx('agents').insert(names.map((name) => ({ name, owner: 'bench', status: 'active', version: 1, created_at: issued, updated_at: issued })));
      const agents = (await trx('agents').whereIn('name', names).select('id', 'name')) as { id: number; name: string }[];
      await trx('certificates').insert(
        agents.map((agent) => ({
          agent_id: agent.id,
          serial: randomBytes(16).toString('hex'),
          fingerprint: randomBytes(32).toString('hex'),
          pem: '-----BEGIN CERTIFICATE-----\nbench\n-----END CERTIFICATE-----\n',
          not_before: issued,
          not_after: lapsed,
          created_at: issued,
        })),
      );
      await trx('agents')
        .whereIn('name', names)
        .update({ current_certificate_id: trx.raw('(select max(c.id) from certificates c where c.agent_id = agents.id)') });
    });
  }
}

async function marks(database: Database): Promise<number> {
  const [row] = (await database.orm.em.getKnex()('lifecycle_marks').where('kind', 'expired').count({ n: '*' })) as { n: number | string }[];
  return Number(row?.n ?? 0);
}

/** IN_FLIGHT callers back to back until `done()` or `maxMs`; latency percentiles and rate. */
async function closedLoop(call: () => Promise<unknown>, done: () => boolean, maxMs: number) {
  const latencies: number[] = [];
  const started = performance.now();
  const until = started + maxMs;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < until && !done()) {
        const t = performance.now();
        await call();
        latencies.push(performance.now() - t);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return { p50Ms: at(0.5), p99Ms: at(0.99), perSecond: Math.round(latencies.length / ((performance.now() - started) / 1000)) };
}

const round = (value: number) => Math.round(value * 10) / 10;
