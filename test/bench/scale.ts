// The registry at scale: `atr bench seed` writes 10^3 and N agents into fresh databases of each dialect, a registry
// process serves each, and in the same run:
// - resolve and verify over gRPC (lean client, random seeded agents) at 10^3 and at N, in alternating slices, p50 and
//   p99, with the ratio of the p99s against the limit (1.5);
// - inclusion and consistency proofs at N's log size (about 1.02·N leaves), p50, read by this process through the
//   log's own store (TransparencyLog over the same database), against the limit of 1 ms;
// - the server's RSS (VmRSS from /proc/<pid>/status, once a second) through a mixed load at N: resolve, verify,
//   listings by owner, status and capability and deep pages, and a registration a second; start, end and max, and
//   how much it moved over the last half of the run.
// Seeding N takes minutes, so the section runs only when asked: `npm run bench -- --scale N`, or alone:
// node --import tsx test/bench/scale.ts --scale N [--seconds S] [--load-seconds S] [--json]
//   [--seeded-url DATABASE_URL --seeded-pki PKI_ROOT_DIR]: N from a database seeded before (`atr bench seed --agents N`)
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { ListAgentsRequestSchema, RegisterAgentRequestSchema, RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import { ResolveAgentRequestSchema, ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { VerifyCertificateRequestSchema, VerifyService } from '../../gen/atr/v1/verify_pb.js';
import { type Dialect, parseDatabaseUrl } from '../../src/config/database-url.ts';
import { openDatabase } from '../../src/db/orm.ts';
import { SqlTlogStore } from '../../src/db/tlog-store.ts';
import { loadOrCreateLogKey } from '../../src/pki/log-key.ts';
import { encodePageToken } from '../../src/services/pagination.ts';
import { TransparencyLog } from '../../src/tlog/log.ts';
import { createNoteSigner } from '../../src/tlog/note.ts';
import { type BenchProcess, benchProcessEnv, serveProcess, stopProcess } from './bench-process.ts';
import { benchDialects, createBenchDatabase } from './databases.ts';
import { GrpcLoad } from './grpc-load.ts';
import { closedLoop } from './closed-loop.ts';

const SMALL = 1000;
const OWNERS = 100;
const CAPABILITIES = ['chat', 'search', 'code', 'payments', 'translate', 'vision', 'booking', 'support'];
const RATIO_LIMIT = 1.5;
const PROOF_LIMIT_MS = 1;
const CLIENTS = 4;
const SLICES = 4;
const PROOFS = 2000;
/** RSS that rose by more than this over the last half of the load counts as growing. */
const GROWTH_MIB = 10;

const run = promisify(execFile);

export interface ScaleLatencyRow {
  readonly database: Dialect;
  readonly call: 'resolve' | 'verify';
  readonly smallP50Ms: number;
  readonly smallP99Ms: number;
  readonly largeP50Ms: number;
  readonly largeP99Ms: number;
}

export interface ScaleRow {
  readonly database: Dialect;
  readonly agents: number;
  readonly seedSeconds: number;
  readonly latency: ScaleLatencyRow[];
  readonly logSize: number;
  readonly inclusionP50Ms: number;
  readonly consistencyP50Ms: number;
  readonly rss: { startMiB: number; endMiB: number; maxMiB: number; lastHalfMiB: number; calls: number; loadSeconds: number };
}

/** `seeded`: measure N on a database `atr bench seed --agents N` filled before (its URL and PKI_ROOT_DIR) instead. */
export async function measureScale(options: {
  agents: number;
  seconds: number;
  loadSeconds: number;
  seeded?: { databaseUrl: string; pkiDir: string } | undefined;
}): Promise<ScaleRow[]> {
  const rows: ScaleRow[] = [];
  const { seeded } = options;
  for (const dialect of seeded ? [parseDatabaseUrl(seeded.databaseUrl).dialect] : benchDialects()) {
    const small = await seededRegistry(dialect, SMALL);
    const large = seeded ? await servedRegistry(options.agents, seeded) : await seededRegistry(dialect, options.agents);
    let measured = large;
    try {
      const latency = await compareLatency(dialect, small, large, options.seconds);
      const proofs = await measureProofs(large);
      measured = await asShipped(large);
      const rss = await mixedLoad(measured, options.loadSeconds);
      rows.push({ database: dialect, agents: options.agents, seedSeconds: large.seedSeconds, latency, ...proofs, rss });
    } finally {
      await small.stop();
      await measured.stop();
    }
  }
  return rows;
}

export function scaleTables(rows: readonly ScaleRow[]): { caption: string; table: string[][] }[] {
  const ms = (value: number) => `${value.toFixed(2)} ms`;
  return [
    {
      caption: `\nAt scale: gRPC resolve and verify (${CLIENTS} closed-loop clients, random seeded agents) against ${SMALL} and N seeded agents, alternating slices, same run; limit: p99 at N within ${RATIO_LIMIT}x of ${SMALL}`,
      table: [
        ['database', 'N', 'call', `p50 at ${SMALL}`, `p99 at ${SMALL}`, 'p50 at N', 'p99 at N', 'p99 ratio', 'limit'],
        ...rows.flatMap((row) =>
          row.latency.map((cell) => [
            row.database,
            String(row.agents),
            cell.call,
            ms(cell.smallP50Ms),
            ms(cell.smallP99Ms),
            ms(cell.largeP50Ms),
            ms(cell.largeP99Ms),
            (cell.largeP99Ms / cell.smallP99Ms).toFixed(2),
            String(RATIO_LIMIT),
          ]),
        ),
      ],
    },
    {
      caption: `\nAt scale: the log at N agents (seeded in the time shown), ${PROOFS} random proofs each through the log's store; limit: p50 under ${PROOF_LIMIT_MS} ms`,
      table: [
        ['database', 'N', 'seed', 'log size', 'inclusion p50', 'consistency p50', 'limit'],
        ...rows.map((row) => [row.database, String(row.agents), Number.isNaN(row.seedSeconds) ? 'before' : `${Math.round(row.seedSeconds)} s`, String(row.logSize), ms(row.inclusionP50Ms), ms(row.consistencyP50Ms), ms(PROOF_LIMIT_MS)]),
      ],
    },
    {
      caption: `\nAt scale: server RSS through a mixed load at N (resolve, verify, filtered lists and deep pages, a registration a second); growing: rose over ${GROWTH_MIB} MiB in the last half`,
      table: [
        ['database', 'N', 'seconds', 'calls', 'RSS start', 'RSS end', 'RSS max', 'last half', 'growing'],
        ...rows.map(({ database, agents, rss }) => [
          database,
          String(agents),
          String(rss.loadSeconds),
          String(rss.calls),
          `${rss.startMiB} MiB`,
          `${rss.endMiB} MiB`,
          `${rss.maxMiB} MiB`,
          `${rss.lastHalfMiB >= 0 ? '+' : ''}${rss.lastHalfMiB} MiB`,
          rss.lastHalfMiB > GROWTH_MIB ? 'yes' : 'no',
        ]),
      ],
    },
  ];
}

interface SeededRegistry {
  readonly agents: number;
  readonly databaseUrl: string;
  readonly pkiDir: string;
  readonly process: BenchProcess;
  readonly seedSeconds: number;
  stop(): Promise<void>;
}

/** A fresh database seeded through `atr bench seed`, and a registry process serving it. */
async function seededRegistry(dialect: Dialect, agents: number): Promise<SeededRegistry> {
  const database = await createBenchDatabase(dialect);
  const dir = mkdtempSync(join(tmpdir(), 'atr-bench-scale-'));
  const env = benchProcessEnv({ dir, databaseUrl: database.url });
  const cli = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));
  const started = performance.now();
  process.stderr.write(`scale: seeding ${agents} agents on ${dialect}\n`);
  const args = ['--agents', String(agents), '--owners', String(OWNERS), '--capabilities', CAPABILITIES.join(',')];
  await run(process.execPath, ['--import', import.meta.resolve('tsx'), cli, 'bench', 'seed', ...args], { env, maxBuffer: 1 << 20 });
  const seedSeconds = (performance.now() - started) / 1000;
  const serving = await serveProcess(env);
  return {
    agents,
    databaseUrl: database.url,
    pkiDir: join(dir, 'pki'),
    process: serving,
    seedSeconds,
    async stop() {
      await stopProcess(serving.child);
      await database.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A registry process on a database seeded before; stopping it leaves the database as it is. */
async function servedRegistry(agents: number, seeded: { databaseUrl: string; pkiDir: string }): Promise<SeededRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'atr-bench-scale-'));
  const serving = await serveProcess(benchProcessEnv({ dir, databaseUrl: seeded.databaseUrl, PKI_ROOT_DIR: seeded.pkiDir }));
  return {
    agents,
    databaseUrl: seeded.databaseUrl,
    pkiDir: seeded.pkiDir,
    process: serving,
    seedSeconds: Number.NaN,
    async stop() {
      await stopProcess(serving.child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * For the RSS row, the registry as it ships (`npm start`: the compiled package in dist/) on the same database, in
 * place of serve.ts, which runs the sources through tsx: its loader thread and transpiled modules add about 100 MiB
 * of their own. The registry as it is when the package is not built. Stopping the one returned stops both.
 */
async function asShipped(registry: SeededRegistry): Promise<SeededRegistry> {
  const bin = fileURLToPath(new URL('../../dist/src/cli/bin.js', import.meta.url));
  if (!existsSync(bin)) return registry;
  await stopProcess(registry.process.child);
  const dir = mkdtempSync(join(tmpdir(), 'atr-bench-shipped-'));
  const env = benchProcessEnv({ dir, databaseUrl: registry.databaseUrl, PKI_ROOT_DIR: registry.pkiDir });
  const child = spawn(process.execPath, [bin, 'serve'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the shipped server exited with ${code}`)));
    let printed = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
      const listening = /listening on (http:\/\/\S+)/.exec(printed);
      if (listening) resolve(listening[1]!);
    });
  });
  return {
    ...registry,
    process: { child, url, mtlsUrl: undefined, dnsPort: undefined },
    async stop() {
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
      await registry.stop();
    },
  };
}

/** The name `atr bench seed` gives its agent n (the first seed into an empty database, 100 owners). */
const seededName = (n: number) => `agent-${n}.owner-${n % OWNERS}.seed.example`;
const randomBelow = (n: number) => Math.floor(Math.random() * n);

/**
 * Resolve and verify at 10^3 and at N, in alternating slices so that the machine's load falls on both alike. Each
 * slice opens its connections: the server closes sessions that sat idle through the other registry's slice.
 */
async function compareLatency(dialect: Dialect, small: SeededRegistry, large: SeededRegistry, seconds: number): Promise<ScaleLatencyRow[]> {
  const rows: ScaleLatencyRow[] = [];
  const targets = await Promise.all([small, large].map(async (registry) => ({ registry, pems: await certificates(registry) })));
  for (const call of ['resolve', 'verify'] as const) {
    const samples = targets.map((): number[] => []);
    for (let slice = 0; slice < SLICES; slice++) {
      for (const [i, { registry, pems }] of targets.entries()) {
        const load = new GrpcLoad(registry.process.url);
        const send =
          call === 'resolve'
            ? () => load.call(ResolveService.method.resolveAgent, load.frame(ResolveAgentRequestSchema, { agentName: seededName(randomBelow(registry.agents)) }))
            : () => load.call(VerifyService.method.verifyCertificate, load.frame(VerifyCertificateRequestSchema, { certPem: pems[randomBelow(pems.length)]! }));
        try {
          samples[i]!.push(...(await closedLoop(send, CLIENTS, seconds / SLICES)));
        } finally {
          load.close();
        }
      }
    }
    const [smallSamples, largeSamples] = samples.map((values) => values.sort((a, b) => a - b)) as [number[], number[]];
    rows.push({
      database: dialect,
      call,
      smallP50Ms: quantile(smallSamples, 0.5),
      smallP99Ms: quantile(smallSamples, 0.99),
      largeP50Ms: quantile(largeSamples, 0.5),
      largeP99Ms: quantile(largeSamples, 0.99),
    });
  }
  return rows;
}

/** The certificates of 500 random seeded agents, as verify will present them. */
async function certificates(registry: SeededRegistry): Promise<string[]> {
  const load = new GrpcLoad(registry.process.url, 1);
  try {
    return await Promise.all(
      Array.from({ length: 500 }, async () => {
        const answer = await load.decoded(ResolveService.method.resolveAgent, load.frame(ResolveAgentRequestSchema, { agentName: seededName(randomBelow(registry.agents)) }));
        return answer.certPem;
      }),
    );
  } finally {
    load.close();
  }
}

/** Inclusion and consistency proofs at the log's signed size, through the log over the same database. */
async function measureProofs(registry: SeededRegistry): Promise<{ logSize: number; inclusionP50Ms: number; consistencyP50Ms: number }> {
  const database = await openDatabase(registry.databaseUrl);
  try {
    const origin = 'atr.local/log';
    const log = new TransparencyLog({
      store: new SqlTlogStore(database),
      origin,
      signer: createNoteSigner(origin, await loadOrCreateLogKey(registry.pkiDir, undefined)),
      checkpointIntervalMs: 60_000,
    });
    const size = (await log.latestCheckpoint())?.size ?? 0;
    const timed = async (work: () => Promise<unknown>) => {
      const values: number[] = [];
      for (let i = 0; i < PROOFS; i++) {
        const started = performance.now();
        await work();
        values.push(performance.now() - started);
      }
      return quantile(values.sort((a, b) => a - b), 0.5);
    };
    const inclusionP50Ms = await timed(() => log.inclusionProof(randomBelow(size), size));
    const consistencyP50Ms = await timed(() => log.consistencyProof(1 + randomBelow(size - 1), size));
    return { logSize: size, inclusionP50Ms, consistencyP50Ms };
  } finally {
    await database.close();
  }
}

/** The mixed load at N for `seconds`, with the server's RSS sampled once a second. */
async function mixedLoad(registry: SeededRegistry, seconds: number): Promise<ScaleRow['rss']> {
  const pid = registry.process.child.pid!;
  const load = new GrpcLoad(registry.process.url);
  const pems = await certificates(registry);
  const frames = {
    resolve: () => load.frame(ResolveAgentRequestSchema, { agentName: seededName(randomBelow(registry.agents)) }),
    verify: () => load.frame(VerifyCertificateRequestSchema, { certPem: pems[randomBelow(pems.length)]! }),
    list: () => {
      const filters = [
        { owner: `owner-${randomBelow(OWNERS)}` },
        { status: AgentStatus.REVOKED },
        { status: AgentStatus.ACTIVE },
        { capability: CAPABILITIES[randomBelow(CAPABILITIES.length)]! },
        {},
      ];
      const deep = Math.random() < 0.5 ? { pageToken: encodePageToken(randomBelow(registry.agents)) } : {};
      return load.frame(ListAgentsRequestSchema, { ...filters[randomBelow(filters.length)], pageSize: 50, ...deep });
    },
  };
  const samples: number[] = [rssMiB(pid)];
  const sampler = setInterval(() => samples.push(rssMiB(pid)), 1000);
  let calls = 0;
  // A name of this run's own: a database seeded before may be measured more than once.
  const run = randomBytes(3).toString('hex');
  let registered = 0;
  const until = performance.now() + seconds * 1000;
  const registrations = setInterval(() => {
    const agentName = `load-${run}-${registered++}.scale.example`;
    const frame = load.frame(RegisterAgentRequestSchema, { agentName, owner: 'owner-load', capabilities: ['chat'] });
    load.call(RegistryService.method.registerAgent, frame).then(
      () => calls++,
      (error: unknown) => process.stderr.write(`scale: registration failed: ${String(error)}\n`),
    );
  }, 1000);
  try {
    await Promise.all(
      Array.from({ length: CLIENTS * 2 }, async () => {
        while (performance.now() < until) {
          const pick = Math.random();
          if (pick < 0.45) await load.call(ResolveService.method.resolveAgent, frames.resolve());
          else if (pick < 0.8) await load.call(VerifyService.method.verifyCertificate, frames.verify());
          else await load.call(RegistryService.method.listAgents, frames.list());
          calls++;
        }
      }),
    );
  } finally {
    clearInterval(sampler);
    clearInterval(registrations);
    load.close();
  }
  samples.push(rssMiB(pid));
  const half = samples.slice(Math.floor(samples.length / 2));
  return {
    startMiB: samples[0]!,
    endMiB: samples.at(-1)!,
    maxMiB: Math.max(...samples),
    lastHalfMiB: half.at(-1)! - half[0]!,
    calls,
    loadSeconds: seconds,
  };
}

function rssMiB(pid: number): number {
  const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Math.round(Number(kib) / 1024);
}

const quantile = (sorted: readonly number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scale: { type: 'string' },
      seconds: { type: 'string', default: '20' },
      'load-seconds': { type: 'string', default: '60' },
      'seeded-url': { type: 'string' },
      'seeded-pki': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const seededUrl = values['seeded-url'];
  const seeded = seededUrl === undefined ? undefined : { databaseUrl: seededUrl, pkiDir: values['seeded-pki'] ?? '' };
  const agents = Number(values.scale ?? 0);
  if (!Number.isSafeInteger(agents) || agents < SMALL) throw new Error(`--scale N: N agents, at least ${SMALL}`);
  const rows = await measureScale({ agents, seconds: Number(values.seconds), loadSeconds: Number(values['load-seconds']), seeded });
  if (values.json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  for (const { caption, table } of scaleTables(rows)) {
    console.log(caption);
    const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
    for (const row of table) console.log(`| ${row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
