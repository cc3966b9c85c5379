// The workers rows of `npm run bench`: ResolveAgent over gRPC (h2c) against `atr serve --workers 1` and `atr serve
// --workers 2` (the real CLI), both running at once on one fresh database, in alternating slices. Beside resolve/s, the
// server's CPU time per request: user + system time of the server process and every process under it (the primary
// and its workers), read from /proc before and after each slice. The load generator runs on the same cores, so
// resolve/s alone cannot show what a second worker buys; the CPU a request costs the server, and this process's own,
// show where the cores went.
import { mkdtempSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResolveAgentRequestSchema, ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import type { Dialect } from '../../src/config/database-url.ts';
import { type BenchProcess, benchProcessEnv, stopProcess } from './bench-process.ts';
import { createBenchDatabase } from './databases.ts';
import { GrpcLoad } from './grpc-load.ts';
import { processCpuMs } from './process-cpu.ts';

export interface WorkersRow {
  readonly database: Dialect;
  readonly workers: number;
  readonly perSecond: number;
  /** Server CPU (primary and workers, user + system) per answered request. */
  readonly serverCpuMsPerRequest: number;
  /** The load generator's own CPU per request, on the same cores. */
  readonly clientCpuMsPerRequest: number;
}

const AGENT = 'workers.bench.example';
const SLICES = 3;
/** Calls in flight, over connections enough for the primary to hand each worker several. */
const IN_FLIGHT = 32;
const CONNECTIONS = 8;
const BIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'bin.ts');

/** For each dialect: both servers on one database, resolve/s and CPU per request in `SLICES` alternating slices each. */
export async function measureWorkers(options: { seconds: number; dialects: readonly Dialect[] }): Promise<WorkersRow[]> {
  const rows: WorkersRow[] = [];
  for (const dialect of options.dialects) {
    const database = await createBenchDatabase(dialect);
    const dir = mkdtempSync(join(tmpdir(), 'atr-bench-workers-'));
    const env = benchProcessEnv({ dir, databaseUrl: database.url });
    const servers: { workers: number; server: BenchProcess; load: GrpcLoad }[] = [];
    try {
      // One after the other: the first creates the schema and the CA the second loads.
      for (const workers of [1, 2]) {
        const server = await serveCli(env, workers);
        servers.push({ workers, server, load: new GrpcLoad(server.url, CONNECTIONS) });
      }
      const registered = await fetch(`${servers[0]?.server.url}/v1/agents`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ agent_name: AGENT, owner: 'bench' }),
      });
      if (!registered.ok) throw new Error(`register: ${registered.status}`);
      const totals = servers.map(() => ({ requests: 0, ms: 0, serverCpuMs: 0, clientCpuMs: 0 }));
      // Warm-up as long as a slice: each worker compiles its hot paths on its own share of the calls.
      for (const { load } of servers) await slice(load, options.seconds);
      for (let round = 0; round < SLICES; round++) {
        for (const [i, { server, load }] of servers.entries()) {
          const serverBefore = processCpuMs(server.child.pid, { children: true }) ?? 0;
          const clientBefore = process.cpuUsage();
          const measured = await slice(load, options.seconds);
          const client = process.cpuUsage(clientBefore);
          const total = totals[i];
          if (total === undefined) continue;
          total.requests += measured.requests;
          total.ms += measured.ms;
          total.serverCpuMs += (processCpuMs(server.child.pid, { children: true }) ?? 0) - serverBefore;
          total.clientCpuMs += (client.user + client.system) / 1000;
        }
      }
      for (const [i, { workers }] of servers.entries()) {
        const total = totals[i];
        if (total === undefined) continue;
        rows.push({
          database: dialect,
          workers,
          perSecond: Math.round((total.requests / total.ms) * 1000),
          serverCpuMsPerRequest: total.serverCpuMs / total.requests,
          clientCpuMsPerRequest: total.clientCpuMs / total.requests,
        });
      }
    } finally {
      for (const { server, load } of servers) {
        load.close();
        await stopProcess(server.child);
      }
      await database.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return rows;
}

export function workersTable(rows: readonly WorkersRow[]): { caption: string; table: string[][] } {
  const one = (database: Dialect) => rows.find((row) => row.database === database && row.workers === 1);
  return {
    caption:
      `\natr serve --workers N: ResolveAgent over gRPC (h2c), ${IN_FLIGHT} calls in flight over ${CONNECTIONS} connections from this ` +
      `process, 1 and 2 workers on one database in ${SLICES} alternating slices; server CPU = user + system of the primary and its workers`,
    table: [
      ['database', 'workers', 'resolve/s', 'vs 1 worker', 'server CPU/request', 'client CPU/request'],
      ...rows.map((row) => [
        row.database,
        String(row.workers),
        String(row.perSecond),
        `${(row.perSecond / (one(row.database)?.perSecond ?? row.perSecond)).toFixed(2)}x`,
        `${(row.serverCpuMsPerRequest * 1000).toFixed(0)} µs`,
        `${(row.clientCpuMsPerRequest * 1000).toFixed(0)} µs`,
      ]),
    ],
  };
}

/** `atr serve --workers N` from the sources; resolves once it printed where it listens. */
async function serveCli(env: NodeJS.ProcessEnv, workers: number): Promise<BenchProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', BIN, 'serve', '--workers', String(workers)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`atr serve --workers ${workers} exited with ${code}`)));
    let printed = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
      const listening = /^ATR listening on (\S+)$/m.exec(printed)?.[1];
      // With workers, the line naming them comes last: all of them listen by then.
      if (listening !== undefined && (workers === 1 || /workers \(pids/.test(printed))) resolve(listening);
    });
  });
  child.stdout?.resume();
  return { child, url, mtlsUrl: undefined, dnsPort: undefined };
}

/** Keeps IN_FLIGHT resolves in flight for `seconds`. */
async function slice(load: GrpcLoad, seconds: number): Promise<{ requests: number; ms: number }> {
  const frame = load.frame(ResolveAgentRequestSchema, { agentName: AGENT });
  const started = performance.now();
  const until = started + seconds * 1000;
  let requests = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < until) {
        await load.call(ResolveService.method.resolveAgent, frame);
        requests++;
      }
    }),
  );
  return { requests, ms: performance.now() - started };
}

