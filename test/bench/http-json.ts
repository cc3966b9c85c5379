// The REST and Connect JSON rows of `npm run bench`: closed-loop clients in this process (Node's fetch, keep-alive),
// each sending its next request when the answer to the last arrived, against a registry process (serve.ts) on a
// fresh database of each dialect, and in the same run against the limits: an empty node:http server answering a
// fixed JSON body (empty-http.ts) and, for Connect JSON resolve, the registry's stack with an empty handler
// (serve.ts --empty). Requests as the original system's users send them: GET /v1/resolve/{name}, POST /v1/verify/cert,
// and the Connect JSON calls ResolveAgent and VerifyCertificate.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dialect } from '../../src/config/database-url.ts';
import { type BenchProcess, benchProcessEnv, serveProcess, stopProcess } from './bench-process.ts';
import { benchDialects, createBenchDatabase } from './databases.ts';
import { spawn } from 'node:child_process';
import { closedLoop } from './closed-loop.ts';

export interface HttpJsonRow {
  readonly database: Dialect;
  readonly request: string;
  readonly clients: number;
  readonly perSecond: number;
  readonly p99Ms: number;
  readonly emptyHttpPerSecond: number;
  /** The registry's stack with an empty handler, where there is one for the call. */
  readonly emptyConnectPerSecond: number | undefined;
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
            const measured = await fetchLoop(`${registry.url}${call.path}`, init, clients, options.seconds);
            const limit = await fetchLoop(`${emptyHttp.url}${call.path}`, init, clients, options.seconds);
            const empty = call.emptyConnect ? await fetchLoop(`${emptyConnect.url}${call.path}`, init, clients, options.seconds) : undefined;
            rows.push({
              database: dialect,
              request: call.name,
              clients,
              perSecond: measured.perSecond,
              p99Ms: measured.p99Ms,
              emptyHttpPerSecond: limit.perSecond,
              emptyConnectPerSecond: empty?.perSecond,
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
    caption: `\nREST and Connect JSON over HTTP/1.1: closed-loop fetch clients in the benchmark process, each beside an empty node:http server answering a fixed JSON body (and, for ResolveAgent, the registry's stack with an empty handler), same run`,
    table: [
      ['database', 'request', 'clients', 'registry/s', 'p99', 'empty node:http/s', 'ratio', 'empty Connect/s'],
      ...rows.map((row) => [
        row.database,
        row.request,
        String(row.clients),
        String(row.perSecond),
        `${row.p99Ms} ms`,
        String(row.emptyHttpPerSecond),
        (row.perSecond / row.emptyHttpPerSecond).toFixed(2),
        row.emptyConnectPerSecond === undefined ? '' : String(row.emptyConnectPerSecond),
      ]),
    ],
  };
}

// Every server gets the same load for this long before it is measured, so a row compares code the JIT has compiled
// on both sides (the empty server's few functions are hot after a handful of requests, the registry's after
// thousands).
const WARM_UP_SECONDS = 1;

/** Requests per second and p99 of `clients` closed loops of this request for `seconds`, after a warm-up. */
async function fetchLoop(url: string, init: RequestInit, clients: number, seconds: number): Promise<{ perSecond: number; p99Ms: number }> {
  const send = async () => {
    const response = await fetch(url, init);
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
  };
  await closedLoop(send, clients, WARM_UP_SECONDS);
  const latencies = (await closedLoop(send, clients, seconds)).sort((a, b) => a - b);
  return {
    perSecond: Math.round(latencies.length / seconds),
    p99Ms: Math.round((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? 0) * 10) / 10,
  };
}

async function startEmptyHttp(): Promise<Pick<BenchProcess, 'child' | 'url'>> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'empty-http.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`empty node:http server exited with ${code}`)));
    child.stdout?.once('data', (chunk: Buffer) => resolve((JSON.parse(chunk.toString()) as { url: string }).url));
  });
  return { child, url };
}
