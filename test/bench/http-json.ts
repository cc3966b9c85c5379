// The REST and Connect JSON rows of `npm run bench`: closed-loop clients in this process (Node's fetch, keep-alive),
// each sending its next request when the answer to the last arrived, against a registry process (serve.ts) on a
// fresh database of each dialect, and in the same run against the limits: an empty node:http server answering a
// fixed JSON body (empty-http.ts) and, for Connect JSON resolve, the registry's stack with an empty handler
// (serve.ts --empty), the servers of a row taking turns in slices. Requests as the original system's users send them:
// GET /v1/resolve/{name}, POST /v1/verify/cert, and the Connect JSON calls ResolveAgent and VerifyCertificate. Each
// row also gives the server CPU time per request of the registry and of the empty server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dialect } from '../../src/config/database-url.ts';
import { type BenchProcess, benchProcessEnv, serveProcess, stopProcess } from './bench-process.ts';
import { benchDialects, createBenchDatabase } from './databases.ts';
import { spawn } from 'node:child_process';
import { closedLoop } from './closed-loop.ts';
import { processCpuMs } from './process-cpu.ts';

export interface HttpJsonRow {
  readonly database: Dialect;
  readonly request: string;
  readonly clients: number;
  readonly perSecond: number;
  readonly p99Ms: number;
  readonly emptyHttpPerSecond: number;
  /** The registry's stack with an empty handler, where there is one for the call. */
  readonly emptyConnectPerSecond: number | undefined;
  /** Server CPU time per request, the registry's and the empty node:http server's; undefined without /proc. */
  readonly cpuUsPerRequest: number | undefined;
  readonly emptyHttpCpuUsPerRequest: number | undefined;
}

interface Call {
  readonly name: string;
  readonly path: string;
  readonly init: (certPem: string) => RequestInit;
  readonly emptyConnect: boolean;
}

const AGENT = 'http.bench.example';
const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const CALLS: readonly Call[] = [
  { name: 'REST GET /v1/resolve/{name}', path: `/v1/resolve/${AGENT}`, init: () => ({}), emptyConnect: false },
  { name: 'Connect JSON ResolveAgent', path: '/atr.v1.ResolveService/ResolveAgent', init: () => json({ agentName: AGENT }), emptyConnect: true },
  { name: 'REST POST /v1/verify/cert', path: '/v1/verify/cert', init: (certPem) => json({ cert_pem: certPem }), emptyConnect: false },
  { name: 'Connect JSON VerifyCertificate', path: '/atr.v1.VerifyService/VerifyCertificate', init: (certPem) => json({ certPem }), emptyConnect: false },
];

export async function measureHttpJson(options: { seconds: number; clients: readonly number[] }): Promise<HttpJsonRow[]> {
  const rows: HttpJsonRow[] = [];
  const emptyHttp = await startEmptyHttp();
  const emptyConnect = await serveProcess(benchProcessEnv({ dir: mkdtempSync(join(tmpdir(), 'atr-bench-empty-')), databaseUrl: 'sqlite:///:memory:' }), ['--empty']);
  try {
    for (const dialect of benchDialects()) {
      const database = await createBenchDatabase(dialect);
      const dir = mkdtempSync(join(tmpdir(), 'atr-bench-http-'));
      const registry = await serveProcess(benchProcessEnv({ dir, databaseUrl: database.url }));
      try {
        const registered = await fetch(`${registry.url}/v1/agents`, json({ agent_name: AGENT, owner: 'bench', capabilities: ['x'] }));
        const certPem = ((await registered.json()) as { cert_pem: string }).cert_pem;
        for (const call of CALLS) {
          for (const clients of options.clients) {
            const init = call.init(certPem);
            const servers = [registry, emptyHttp, ...(call.emptyConnect ? [emptyConnect] : [])];
            const [measured, limit, empty] = await alternatingLoops(
              servers.map((server) => ({ url: `${server.url}${call.path}`, pid: server.child.pid })),
              init,
              clients,
              options.seconds,
            );
            if (measured === undefined || limit === undefined) throw new Error('a load was not measured');
            rows.push({
              database: dialect,
              request: call.name,
              clients,
              perSecond: measured.perSecond,
              p99Ms: measured.p99Ms,
              emptyHttpPerSecond: limit.perSecond,
              emptyConnectPerSecond: empty?.perSecond,
              cpuUsPerRequest: measured.cpuUsPerRequest,
              emptyHttpCpuUsPerRequest: limit.cpuUsPerRequest,
            });
          }
        }
      } finally {
        await stopProcess(registry.child);
        await database.drop();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await stopProcess(emptyHttp.child);
    await stopProcess(emptyConnect.child);
  }
  return rows;
}

export function httpJsonTable(rows: readonly HttpJsonRow[]): { caption: string; table: string[][] } {
  return {
    caption: `\nREST and Connect JSON over HTTP/1.1: closed-loop fetch clients in the benchmark process, each beside an empty node:http server answering a fixed JSON body (and, for ResolveAgent, the registry's stack with an empty handler), in alternating slices of the same run; server CPU per request, registry / empty node:http`,
    table: [
      ['database', 'request', 'clients', 'registry/s', 'p99', 'empty node:http/s', 'ratio', 'empty Connect/s', 'server CPU µs/request'],
      ...rows.map((row) => [
        row.database,
        row.request,
        String(row.clients),
        String(row.perSecond),
        `${row.p99Ms} ms`,
        String(row.emptyHttpPerSecond),
        (row.perSecond / row.emptyHttpPerSecond).toFixed(2),
        row.emptyConnectPerSecond === undefined ? '' : String(row.emptyConnectPerSecond),
        row.cpuUsPerRequest === undefined || row.emptyHttpCpuUsPerRequest === undefined ? '' : `${row.cpuUsPerRequest} / ${row.emptyHttpCpuUsPerRequest}`,
      ]),
    ],
  };
}

// Every server gets the same load for this long before it is measured, so a row compares code the JIT has compiled
// on both sides (the empty server's few functions are hot after a handful of requests, the registry's after
// thousands).
const WARM_UP_SECONDS = 1;
/**
 * A row's servers are measured in this many slices each, taking turns, so that whatever else the machine does
 * (its speed moves by a third between minutes here) falls on the registry and its limits alike.
 */
const SLICES = 4;

interface Loop {
  readonly perSecond: number;
  readonly p99Ms: number;
  /** The server process's CPU time (user + system) per request; undefined without /proc. */
  readonly cpuUsPerRequest: number | undefined;
}

/**
 * `clients` closed loops of this request against each server in turn, SLICES slices of `seconds / SLICES` each after
 * a warm-up: each server's requests per second and p99 over its slices, and its CPU time per request.
 */
async function alternatingLoops(servers: readonly { url: string; pid: number | undefined }[], init: RequestInit, clients: number, seconds: number): Promise<Loop[]> {
  const sends = servers.map(({ url }) => async () => {
    const response = await fetch(url, init);
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
  });
  for (const send of sends) await closedLoop(send, clients, WARM_UP_SECONDS);
  const totals = servers.map(() => ({ latencies: [] as number[], ms: 0, cpuMs: 0 as number | undefined }));
  for (let slice = 0; slice < SLICES; slice++) {
    for (const [i, { pid }] of servers.entries()) {
      const total = totals[i];
      const send = sends[i];
      if (total === undefined || send === undefined) continue;
      const cpuBefore = processCpuMs(pid);
      const started = performance.now();
      total.latencies.push(...(await closedLoop(send, clients, seconds / SLICES)));
      total.ms += performance.now() - started;
      const cpuAfter = processCpuMs(pid);
      total.cpuMs = total.cpuMs === undefined || cpuBefore === undefined || cpuAfter === undefined ? undefined : total.cpuMs + cpuAfter - cpuBefore;
    }
  }
  return totals.map(({ latencies, ms, cpuMs }) => {
    latencies.sort((a, b) => a - b);
    return {
      perSecond: Math.round((latencies.length / ms) * 1000),
      p99Ms: Math.round((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? 0) * 10) / 10,
      cpuUsPerRequest: cpuMs === undefined || latencies.length === 0 ? undefined : Math.round((cpuMs * 1000) / latencies.length),
    };
  });
}

async function startEmptyHttp(): Promise<Pick<BenchProcess, 'child' | 'url'>> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'empty-http.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`empty node:http server exited with ${code}`)));
    child.stdout?.once('data', (chunk: Buffer) => resolve((JSON.parse(chunk.toString()) as { url: string }).url));
  });
  return { child, url };
}
