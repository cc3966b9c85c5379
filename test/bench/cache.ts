// The lookup cache's rows of `npm run bench`: resolve and verify throughput of registry processes (serve.ts) that
// differ only in their cache, on one fresh database per dialect (a SQLite file; PostgreSQL too when DATABASE_URL or
// ATR_TEST_POSTGRES_URL names a server), in the same run:
//   none              CACHE_LOCAL_TTL_MS=0, no Redis: every lookup reads the database
//   memory            CACHE_LOCAL_TTL_MS=1000, no Redis (the default without REDIS_URL)
//   Redis             CACHE_LOCAL_TTL_MS=0, REDIS_URL: every lookup reads Redis, and the database on a miss
//   Redis + memory    CACHE_LOCAL_TTL_MS=1000, REDIS_URL (the default with REDIS_URL)
// 200 agents are looked up round-robin by CONCURRENCY callers in this process over gRPC (h2c). The processes are
// loaded in turn, in ROUNDS alternating slices, so that whatever else the machine does falls on all of them alike;
// each slice follows an unmeasured warm-up of its own, so that memory entries (1 s) start it warm, as they are in a
// process under steady load. `from cache`: the share of the measured lookups answered from memory or Redis,
// from the processes' own counters (/metrics, atr_cache_lookups).
// Redis is REDIS_URL or 127.0.0.1:6379; the Redis rows are left out when it does not answer.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { Redis } from 'ioredis';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveAgentRequestSchema, ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { VerifyCertificateRequestSchema, VerifyService } from '../../gen/atr/v1/verify_pb.js';
import type { Dialect } from '../../src/config/database-url.ts';
import { type ServerProcess, serverProcess } from '../support/server-process.ts';
import { benchDialects, createBenchDatabase } from './databases.ts';
import { GrpcLoad } from './grpc-load.ts';

const AGENTS = 200;
const ROUNDS = 3;
const WARM_UP_MS = 500;

export interface CacheRow {
  readonly database: Dialect;
  readonly lookup: 'resolve' | 'verify';
  readonly cache: string;
  readonly ops: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Throughput over the same lookup without a cache, in the same run. */
  readonly speedup: number;
  /** Share of the lookups answered from memory or Redis (the process's atr_cache_lookups), when it reports them. */
  readonly fromCache: number | undefined;
}

interface Variant {
  readonly cache: string;
  readonly env: NodeJS.ProcessEnv;
}

/** Every row: SQLite, then PostgreSQL when a server is named; `seconds` of load per process and lookup. */
export async function measureCache(options: { seconds: number; concurrency: number }): Promise<CacheRow[]> {
  const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const variants: Variant[] = [
    { cache: 'none', env: { REDIS_ENABLED: 'false', CACHE_LOCAL_TTL_MS: '0' } },
    { cache: 'memory', env: { REDIS_ENABLED: 'false', CACHE_LOCAL_TTL_MS: '1000' } },
    ...((await answers(redisUrl))
      ? [
          { cache: 'Redis', env: { REDIS_ENABLED: 'true', REDIS_URL: redisUrl, CACHE_LOCAL_TTL_MS: '0' } },
          { cache: 'Redis + memory', env: { REDIS_ENABLED: 'true', REDIS_URL: redisUrl, CACHE_LOCAL_TTL_MS: '1000' } },
        ]
      : []),
  ];
  const rows: CacheRow[] = [];
  for (const dialect of benchDialects()) rows.push(...(await measureOn(dialect, variants, options)));
  return rows;
}

/** The table `npm run bench` prints: a header, then a line a row. */
export function cacheTable(rows: readonly CacheRow[]): string[][] {
  return [
    ['database', 'lookup', 'cache', 'ops/s', 'p50 ms', 'p99 ms', 'vs none', 'from cache'],
    ...rows.map((r) => [
      r.database,
      r.lookup,
      r.cache,
      r.perSecond.toFixed(0),
      r.p50Ms.toFixed(2),
      r.p99Ms.toFixed(2),
      `${r.speedup.toFixed(2)}x`,
      r.fromCache === undefined ? '-' : `${(r.fromCache * 100).toFixed(1)}%`,
    ]),
  ];
}

async function measureOn(dialect: Dialect, variants: readonly Variant[], options: { seconds: number; concurrency: number }): Promise<CacheRow[]> {
  const database = await createBenchDatabase(dialect);
  const dir = mkdtempSync(join(tmpdir(), 'atr-bench-cache-'));
  const env = {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: '0',
    MTLS_ENABLED: 'false',
    DATABASE_URL: database.url,
    PKI_ROOT_DIR: join(dir, 'pki'),
    // A trust domain of its own: Redis keys and channels of other registries on the same Redis stay apart.
    TRUST_DOMAIN: `bench-cache-${randomBytes(4).toString('hex')}.test`,
  };
  const processes: ServerProcess[] = [];
  const loads: GrpcLoad[] = [];
  try {
    // One at a time: the first creates the schema and the CA the others load.
    for (const variant of variants) processes.push(await serverProcess({ ...env, ...variant.env }));
    const registry = createClient(RegistryService, createGrpcTransport({ baseUrl: processes[0]!.url }));
    const population = await Promise.all(
      Array.from({ length: AGENTS }, (_, i) => registry.registerAgent({ agentName: `cached-${i}.bench.example`, owner: 'bench' })),
    );
    loads.push(...processes.map((p) => new GrpcLoad(p.url)));
    const resolveFrames = population.map((p) => loads[0]!.frame(ResolveAgentRequestSchema, { agentName: p.agent?.agentName ?? '' }));
    const verifyFrames = population.map((p) => loads[0]!.frame(VerifyCertificateRequestSchema, { certPem: p.certPem }));
    const lookups = {
      resolve: (load: GrpcLoad, i: number) => load.call(ResolveService.method.resolveAgent, resolveFrames[i % AGENTS]!),
      verify: async (load: GrpcLoad, i: number) => {
        const answer = await load.decoded(VerifyService.method.verifyCertificate, verifyFrames[i % AGENTS]!);
        if (!answer.verified) throw new Error(`verification refused: ${answer.message}`);
      },
    };
    const rows: CacheRow[] = [];
    for (const [lookup, call] of Object.entries(lookups) as [CacheRow['lookup'], (load: GrpcLoad, i: number) => Promise<unknown>][]) {
      const targets = processes.map((p, i) => sliceLoad((n) => call(loads[i]!, n), () => cacheHits(p.url), options.concurrency));
      const sliceMs = (options.seconds * 1000) / ROUNDS;
      for (let round = 0; round < ROUNDS; round++) {
        for (const target of targets) {
          await target.run(WARM_UP_MS, false);
          await target.run(sliceMs, true);
        }
      }
      const results = targets.map((target) => target.result());
      const none = results[0]!.perSecond;
      results.forEach((result, i) => rows.push({ database: dialect, lookup, cache: variants[i]!.cache, ...result, speedup: result.perSecond / none }));
    }
    return rows;
  } finally {
    for (const load of loads) load.close();
    await Promise.all(processes.map((p) => p.stop()));
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `concurrency` callers keeping calls in flight; run() adds a slice of it, so that several targets can alternate.
 * Measured slices also count the process's cache hits: each call makes one lookup.
 */
function sliceLoad(call: (i: number) => Promise<unknown>, cacheHitsSoFar: () => Promise<number | undefined>, concurrency: number) {
  const latencies: number[] = [];
  let elapsedMs = 0;
  let next = 0;
  let hits: number | undefined = 0;
  const run = async (ms: number, record: boolean) => {
    const hitsBefore = record ? await cacheHitsSoFar() : undefined;
    const started = performance.now();
    const worker = async () => {
      while (performance.now() < started + ms) {
        const t = performance.now();
        await call(next++);
        if (record) latencies.push(performance.now() - t);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    if (!record) return;
    elapsedMs += performance.now() - started;
    const hitsAfter = await cacheHitsSoFar();
    hits = hits === undefined || hitsBefore === undefined || hitsAfter === undefined ? undefined : hits + hitsAfter - hitsBefore;
  };
  const result = () => {
    const sorted = [...latencies].sort((x, y) => x - y);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    const fromCache = hits === undefined ? undefined : hits / sorted.length;
    return { ops: sorted.length, perSecond: (sorted.length / elapsedMs) * 1000, p50Ms: at(0.5), p99Ms: at(0.99), fromCache };
  };
  return { run, result };
}

/** Lookups the process answered from memory or Redis since it started, from its /metrics; undefined without them. */
async function cacheHits(url: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const count = (outcome: string) => Number(new RegExp(`^atr_cache_lookups\\{outcome="${outcome}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    return text.includes('atr_cache_lookups') ? count('local:hits') + count('redis:hits') : undefined;
  } catch {
    return undefined;
  }
}

async function answers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}
