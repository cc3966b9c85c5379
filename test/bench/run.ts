// npm run bench [-- --json] [--seconds N] [--concurrency N] [--no-log] [--no-mtls] [--no-cache] [--no-dns] [--no-lifecycle] [--expiries N]
//                 [--no-webhooks] [--webhook-events N] [--no-registrations] [--registrations N] [--no-http-json]
//                 [--no-workers] [--workers-sqlite] [--scale N] [--no-cli]
//
// Starts the registry (embedded SQLite, or DATABASE_URL) and an empty unary handler on the same stack, each as
// its own process, and drives them from this process over gRPC (h2c). Each row stands beside its limit measured
// in the same run: an empty handler for resolve, raw in-process verification for verify, raw in-process registration
// (CSR check, signing and one transaction writing its rows: test/bench/raw-registration.ts) for register-with-CSR.
// The mTLS listener's rows (test/bench/mtls.ts) follow, against registry processes of their own, then the lookup
// cache's rows (test/bench/cache.ts: resolve and verify against registry processes with and without the cache, same
// run), then the transparency log's rows (test/bench/log.ts), measured in this process, then the built-in DNS server's
// rows (test/bench/dns.ts: UDP answers/s beside a bare UDP echo server, same run) and the
// lag from a revocation to its TXT record changing (test/bench/dns-lag.ts), and resolve while the lifecycle sweep
// records a bulk of expiries (test/bench/lifecycle.ts), and webhooks (test/bench/webhooks.ts): deliveries/s of a
// backlog of --webhook-events agent.registered events to a receiver that checks every signature, and the delay from a
// revoke over gRPC to its agent.revoked delivery, 200 times, on a fresh database of DATABASE_URL's dialect, and
// registrations synchronous vs asynchronous (accepted/s, completed/s) with ASYNC_PROCESSING_ENABLED
// (test/bench/async-registration.ts), and REST and Connect JSON resolve and verify at 1 and 16 clients beside an
// empty node:http server (test/bench/http-json.ts), on SQLite and, when configured, PostgreSQL, and resolve/s with
// `atr serve --workers 1` and `--workers 2` in alternating slices with the server's CPU time per request
// (test/bench/workers.ts; PostgreSQL, and SQLite with --workers-sqlite). --scale N adds test/bench/scale.ts: 10^3 and N
// seeded agents (atr bench seed; minutes), resolve and verify p99 at both, proofs at N's log size and the server's
// RSS through a 60-second mixed load. The CLI section (test/bench/cli.ts) builds dist/ and times whole processes of
// the compiled atr (--version, --help, resolve, agents get) beside a bare node process.
//
// --no-log, --no-mtls, --no-cache, --no-dns, --no-lifecycle, --no-webhooks, --no-registrations, --no-http-json and --no-cli skip
// those sections;
// --expiries N is the lifecycle sweep's bulk (default 100000), --webhook-events N the webhook backlog (default 400, at
// least 200), --registrations N the registrations made each way (default 300).
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { RegisterAgentRequestSchema, RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveAgentRequestSchema, ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { VerifyCertificateRequestSchema, VerifyService } from '../../gen/atr/v1/verify_pb.js';
import { loadOrCreateCa } from '../../src/pki/ca.ts';
import { isIssuedByRegistry } from '../../src/pki/chain.ts';
import { keyAndCsr } from '../support/keys.ts';
import { serveProcess } from './bench-process.ts';
import { rawRegistration } from './raw-registration.ts';
import { GrpcLoad } from './grpc-load.ts';
import { type LogRow, logTable, measureLog } from './log.ts';
import { type MtlsRow, measureMtls, mtlsTable } from './mtls.ts';
import { type CacheRow, cacheTable, measureCache } from './cache.ts';
import { type DnsRow, dnsTable, measureDns } from './dns.ts';
import { type DnsLagRow, measureDnsLag } from './dns-lag.ts';
import { type LifecycleRow, measureLifecycle } from './lifecycle.ts';
import { type WebhooksRow, measureWebhooks, webhooksTable } from './webhooks.ts';
import { type RegistrationRow, measureRegistrations, registrationsTable } from './async-registration.ts';
import { type HttpJsonRow, httpJsonTable, measureHttpJson } from './http-json.ts';
import { type WorkersRow, measureWorkers, workersTable } from './workers.ts';
import { type ScaleRow, measureScale, scaleTables } from './scale.ts';
import { benchDialects } from './databases.ts';
import { type CliRow, cliTable, measureCli } from './cli.ts';

const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '32' },
    'no-log': { type: 'boolean', default: false },
    'no-mtls': { type: 'boolean', default: false },
    'no-cache': { type: 'boolean', default: false },
    'no-dns': { type: 'boolean', default: false },
    'no-lifecycle': { type: 'boolean', default: false },
    expiries: { type: 'string', default: '100000' },
    'no-webhooks': { type: 'boolean', default: false },
    'webhook-events': { type: 'string', default: '400' },
    'no-registrations': { type: 'boolean', default: false },
    registrations: { type: 'string', default: '300' },
    'no-http-json': { type: 'boolean', default: false },
    'no-workers': { type: 'boolean', default: false },
    'workers-sqlite': { type: 'boolean', default: false },
    scale: { type: 'string' },
    'no-cli': { type: 'boolean', default: false },
  },
});
const seconds = Number(flags.seconds);
const concurrency = Number(flags.concurrency);

/** What a Python proof of concept of this registry measured on this class of machine (ops/s). */
const PYTHON_POC = { resolve: 672, verify: 76, register: 10.6 } as const;

interface Measured {
  readonly ops: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

interface Row {
  readonly scenario: string;
  readonly measured: Measured;
  readonly limitName: string;
  readonly limit: Measured;
  readonly pythonPoc: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'atr-bench-'));
  const env = {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: '0',
    MTLS_PORT: '0',
    PKI_ROOT_DIR: join(dir, 'pki'),
    DATABASE_URL: process.env['DATABASE_URL'] ?? `sqlite:///${join(dir, 'atr.db')}`,
  };
  const registryProcess = await serveProcess(env);
  const emptyProcess = await serveProcess({ ...env, DATABASE_URL: `sqlite:///${join(dir, 'empty.db')}` }, ['--empty']);
  try {
    const rows = await measure(registryProcess.url, emptyProcess.url, join(dir, 'pki'), env.DATABASE_URL);
    const cli = flags['no-cli'] ? [] : await measureCli({ server: registryProcess.url, runs: 21 });
    const logRows = flags['no-log'] ? [] : await measureLog();
    const mtlsRows = flags['no-mtls'] ? [] : await measureMtls();
    const cacheRows = flags['no-cache'] ? [] : await measureCache({ seconds, concurrency });
    const dnsRows = flags['no-dns'] ? [] : await measureDns({ seconds });
    const dnsLag = flags['no-dns'] ? undefined : await measureDnsLag({ revocations: 100 });
    const lifecycle = flags['no-lifecycle'] ? undefined : await measureLifecycle({ expiries: Number(flags.expiries), seconds });
    const webhooks = flags['no-webhooks'] ? undefined : await measureWebhooks({ events: Number(flags['webhook-events']), revokes: 200 });
    const registrations = flags['no-registrations'] ? undefined : await measureRegistrations(Number(flags.registrations));
    const httpJson = flags['no-http-json'] ? [] : await measureHttpJson({ seconds, clients: [1, 16] });
    const workers = flags['no-workers']
      ? []
      : await measureWorkers({ seconds, dialects: benchDialects().filter((dialect) => dialect === 'postgresql' || flags['workers-sqlite']) });
    const scale = flags.scale === undefined ? [] : await measureScale({ agents: Number(flags.scale), seconds, loadSeconds: 60 });
    print(rows, env.DATABASE_URL.split(':')[0] ?? '', logRows, mtlsRows, cacheRows, dnsRows, dnsLag, lifecycle, webhooks, registrations, httpJson, workers, scale, cli);
  } finally {
    registryProcess.child.kill('SIGTERM');
    emptyProcess.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measure(url: string, emptyUrl: string, pkiDir: string, databaseUrl: string): Promise<Row[]> {
  const registry = createClient(RegistryService, createGrpcTransport({ baseUrl: url }));
  const load = new GrpcLoad(url);
  const emptyLoad = new GrpcLoad(emptyUrl);
  try {
    // A population to resolve and verify: 200 agents, certificates kept client-side.
    const population = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        registry.registerAgent({ agentName: `agent-${i}.bench.example`, owner: 'bench', capabilities: ['bench'] }),
      ),
    );
    const certs = population.map((p) => p.certPem);
    const resolveFrames = population.map((p) => load.frame(ResolveAgentRequestSchema, { agentName: p.agent?.agentName ?? '' }));
    const verifyFrames = certs.map((certPem) => load.frame(VerifyCertificateRequestSchema, { certPem }));
    const pick = <T>(list: readonly T[], i: number): T => list[i % list.length] as T;

    const emptyLimit = await loadOver((i) => emptyLoad.call(ResolveService.method.resolveAgent, pick(resolveFrames, i)));
    const resolved = await loadOver((i) => load.call(ResolveService.method.resolveAgent, pick(resolveFrames, i)));
    const verified = await loadOver(async (i) => {
      const answer = await load.decoded(VerifyService.method.verifyCertificate, pick(verifyFrames, i));
      if (!answer.verified) throw new Error(`verification refused: ${answer.message}`);
    });

    const ca = await loadOrCreateCa({ dir: pkiDir, validityDays: 3650, trustDomain: 'atr.local', crlUrl: 'http://unused/v1/crl' });
    const rawVerify = await loadInProcess(async (i) => {
      const certificate = new X509Certificate(pick(certs, i));
      if (!isIssuedByRegistry(ca, certificate)) throw new Error('chain check failed');
    });
    const csrs = await Promise.all(Array.from({ length: 3000 }, () => keyAndCsr().then((k) => k.csrPem)));
    // The limit: CSR check, signing and one transaction writing a registration's rows, on the same database.
    const raw = await rawRegistration(databaseUrl, ca);
    const rawRegister = await loadInProcess((i) => raw.register(`raw-${i}.bench.example`, pick(csrs, i)));
    await raw.close();
    // New connections: the ones above sat idle while the CSRs were made and may have met the server's idle timeout.
    const registerLoad = new GrpcLoad(url);
    let next = 0;
    const registered = await loadOver(() => {
      const i = next++;
      const frame = registerLoad.frame(RegisterAgentRequestSchema, { agentName: `csr-${i}.bench.example`, owner: 'bench', csrPem: pick(csrs, i) });
      return registerLoad.call(RegistryService.method.registerAgent, frame);
    }).finally(() => registerLoad.close());
    return [
      { scenario: 'resolve', measured: resolved, limitName: 'empty unary handler', limit: emptyLimit, pythonPoc: PYTHON_POC.resolve },
      { scenario: 'verify', measured: verified, limitName: 'raw in-process verification', limit: rawVerify, pythonPoc: PYTHON_POC.verify },
      { scenario: 'register with CSR', measured: registered, limitName: 'raw in-process registration', limit: rawRegister, pythonPoc: PYTHON_POC.register },
    ];
  } finally {
    load.close();
    emptyLoad.close();
  }
}

/** Keeps `concurrency` calls in flight for `seconds` after a one-second warm-up. */
async function loadOver(call: (i: number) => Promise<unknown>): Promise<Measured> {
  let i = 0;
  const run = async (until: number, latencies?: number[]) => {
    const worker = async () => {
      while (performance.now() < until) {
        const started = performance.now();
        await call(i++);
        latencies?.push(performance.now() - started);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  };
  await run(performance.now() + 1000);
  const latencies: number[] = [];
  const started = performance.now();
  await run(started + seconds * 1000, latencies);
  return summarise(latencies, performance.now() - started);
}

/** The same, one call at a time in this process: what the work itself costs without transport or storage. */
async function loadInProcess(call: (i: number) => Promise<void>): Promise<Measured> {
  const latencies: number[] = [];
  let i = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    const t = performance.now();
    await call(i++);
    latencies.push(performance.now() - t);
  }
  return summarise(latencies, performance.now() - started);
}

function summarise(latencies: number[], elapsedMs: number): Measured {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { ops: sorted.length, perSecond: (sorted.length / elapsedMs) * 1000, p50Ms: at(0.5), p99Ms: at(0.99) };
}

function print(
  rows: Row[],
  database: string,
  logRows: LogRow[],
  mtlsRows: MtlsRow[],
  cacheRows: CacheRow[],
  dnsRows: DnsRow[],
  dnsLag: DnsLagRow | undefined,
  lifecycle: LifecycleRow | undefined,
  webhooks: WebhooksRow | undefined,
  registrations: RegistrationRow | undefined,
  httpJson: HttpJsonRow[],
  workers: WorkersRow[],
  scale: ScaleRow[],
  cli: CliRow[],
): void {
  if (flags.json) {
    console.log(JSON.stringify({ database, concurrency, seconds, rows, log: logRows, mtls: mtlsRows, cache: cacheRows, dns: dnsRows, dnsLag, lifecycle, webhooks, registrations, httpJson, workers, scale, cli }, null, 2));
    return;
  }
  const fixed = (n: number, digits = 0) => n.toFixed(digits);
  const table = [
    ['scenario', 'ops/s', 'p50 ms', 'p99 ms', 'limit', 'limit ops/s', 'of limit', 'vs Python POC'],
    ...rows.map((r) => [
      r.scenario,
      fixed(r.measured.perSecond),
      fixed(r.measured.p50Ms, 2),
      fixed(r.measured.p99Ms, 2),
      r.limitName,
      fixed(r.limit.perSecond),
      `${fixed((r.measured.perSecond / r.limit.perSecond) * 100)}%`,
      `${fixed(r.measured.perSecond / r.pythonPoc, 1)}x`,
    ]),
  ];
  console.log(`database: ${database}, concurrency ${concurrency}, ${seconds} s per row, load over gRPC (h2c) from a separate process`);
  printTable(table);
  if (mtlsRows.length > 0) {
    console.log('\nmTLS listener: connections from this process to registry processes of its own (serve.ts), a fresh database per dialect');
    printTable(mtlsTable(mtlsRows));
  }
  if (cacheRows.length > 0) {
    console.log(`\nlookup cache: registry processes (serve.ts) differing only in their cache, one database per dialect, ${seconds} s each in alternating slices`);
    printTable(cacheTable(cacheRows));
  }
  if (logRows.length > 0) {
    console.log('\ntransparency log: in process on SqlTlogStore + TransparencyLog, a fresh database per dialect');
    printTable(logTable(logRows));
  }
  if (dnsRows.length > 0) {
    console.log(`\nbuilt-in DNS server: one published TXT name over UDP, 16 queries in flight from this process, servers in processes of their own (dns-serve.ts), ${seconds} s per row in 3 alternating slices`);
    printTable(dnsTable(dnsRows));
  }
  if (dnsLag !== undefined) {
    console.log('\nrevocation to DNS: a registry process with DNS_ZONES; each agent revoked over gRPC, its _atr TXT asked of the built-in server every millisecond until it says status=revoked');
    printTable([
      ['revocations', 'p50', 'p99', 'max'],
      [String(dnsLag.revocations), `${dnsLag.p50Ms} ms`, `${dnsLag.p99Ms} ms`, `${dnsLag.maxMs} ms`],
    ]);
  }
  if (lifecycle !== undefined) {
    console.log(
      `\nlifecycle sweep: ${lifecycle.expiries} lapsed agents written into the database of a registry process, recorded as expired (audit, log leaf, mark) by its sweep; resolve over gRPC, 16 in flight, idle vs during the sweep`,
    );
    printTable([
      ['resolve', 'calls/s', 'p50', 'p99'],
      ['idle', String(lifecycle.idle.perSecond), `${lifecycle.idle.p50Ms} ms`, `${lifecycle.idle.p99Ms} ms`],
      ['during the sweep', String(lifecycle.during.perSecond), `${lifecycle.during.p50Ms} ms`, `${lifecycle.during.p99Ms} ms`],
    ]);
    console.log(`expiries recorded: ${lifecycle.expiries} in ${lifecycle.sweepSeconds} s (${lifecycle.expiriesPerSecond}/s)`);
  }
  if (webhooks !== undefined) {
    const { caption, table, delayCaption, delayTable } = webhooksTable(webhooks);
    console.log(`\n${caption}`);
    printTable(table);
    console.log(`\n${delayCaption}`);
    printTable(delayTable);
  }
  if (registrations !== undefined) {
    const { caption, table } = registrationsTable(registrations);
    console.log(caption);
    printTable(table);
  }
  if (httpJson.length > 0) {
    const { caption, table } = httpJsonTable(httpJson);
    console.log(caption);
    printTable(table);
  }
  if (workers.length > 0) {
    const { caption, table } = workersTable(workers);
    console.log(caption);
    printTable(table);
  }
  if (cli.length > 0) {
    const { caption, table } = cliTable(cli);
    console.log(caption);
    printTable(table);
  }
  for (const { caption, table } of scale.length > 0 ? scaleTables(scale) : []) {
    console.log(caption);
    printTable(table);
  }
}

function printTable(table: string[][]): void {
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  for (const row of table) console.log(`| ${row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`);
}

await main();
