// The mTLS listener's rows of `npm run bench`, against registry processes started from test/bench/serve.ts on a
// fresh database per dialect (a SQLite file; PostgreSQL too when DATABASE_URL or ATR_TEST_POSTGRES_URL names a server):
//   handshakes: HANDSHAKE_CONNECTORS connectors in this process, each opening a new TLS connection with an agent's
//               certificate (full handshakes: no session is offered, so none is resumed), sending GET /healthz over
//               HTTP/1.1 and counting the connection once the 200 arrives: an accepted connection. Beside it, in
//               alternating slices of the same run, the same against a bare Node HTTPS server (test/bench/bare-tls.ts)
//               with a server certificate from the same CA, the same trust anchors and the same client certificate,
//               and no CRLs or registry check; and against a registry listener with MTLS_CRL_CHECK=false.
//   revocation: two registry processes A and B on one database; for each of REVOKED_AGENTS agents: register through
//               A, open an HTTP/2 mTLS connection to B (GET /healthz 200), revoke through A and time, from the moment
//               the revoke is sent, until B closes that connection, and until a new connection to B is refused
//               (attempted once the revoke has returned; one attempt is one full handshake).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import type { Dialect } from '../../src/config/database-url.ts';
import { healthzOverMtls } from '../support/mtls.ts';
import { benchDialects, createBenchDatabase } from './databases.ts';

const HANDSHAKE_CONNECTORS = 16;
const HANDSHAKE_WARM_UP_MS = 500;
/** Each server is loaded for HANDSHAKE_ROUNDS slices of HANDSHAKE_SLICE_MS, the two servers' slices alternating. */
const HANDSHAKE_ROUNDS = 3;
const HANDSHAKE_SLICE_MS = 1000;
const REVOKED_AGENTS = 30;
/** How long a revocation is waited for before the sample counts as this (and fails its target). */
const GIVE_UP_MS = 3000;

export interface MtlsRow {
  readonly database: Dialect;
  readonly scenario: string;
  /** Accepted connections, or revoked agents. */
  readonly samples: number;
  readonly perSecond?: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly target: string;
  readonly met?: boolean;
  readonly note: string;
}

interface Credentials {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

interface Latencies {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Every row: SQLite, then PostgreSQL when a server is named. */
export async function measureMtls(): Promise<MtlsRow[]> {
  const rows: MtlsRow[] = [];
  for (const dialect of benchDialects()) {
    const target = await createBenchDatabase(dialect);
    const dir = mkdtempSync(join(tmpdir(), 'atr-bench-mtls-'));
    const env = { ...process.env, HOST: '127.0.0.1', PORT: '0', MTLS_PORT: '0', DATABASE_URL: target.url, PKI_ROOT_DIR: join(dir, 'pki') };
    const children: ChildProcess[] = [];
    try {
      const a = await start('serve.ts', env, children);
      const b = await start('serve.ts', env, children);
      const withoutCrls = await start('serve.ts', { ...env, MTLS_CRL_CHECK: 'false' }, children);
      const bare = await start('bare-tls.ts', env, children);
      const registry = createClient(RegistryService, createConnectTransport({ baseUrl: a.url, httpVersion: '1.1' }));
      rows.push(...(await measureHandshakes(dialect, registry, { crls: b.mtlsUrl ?? '', registryOnly: withoutCrls.mtlsUrl ?? '', bare: bare.url })));
      rows.push(...(await measureRevocation(dialect, registry, b.mtlsUrl ?? '')));
    } finally {
      for (const child of children) child.kill('SIGTERM');
      await target.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return rows;
}

/** The table `npm run bench` prints: a header, then a line a row. */
export function mtlsTable(rows: readonly MtlsRow[]): string[][] {
  const figure = (n: number | undefined, digits: number) => (n === undefined ? '-' : n.toFixed(digits));
  return [
    ['database', 'mTLS scenario', 'samples', 'per s', 'p50 ms', 'p99 ms', 'max ms', 'target', 'met', 'how'],
    ...rows.map((r) => [
      r.database,
      r.scenario,
      String(r.samples),
      figure(r.perSecond, 0),
      figure(r.p50Ms, 2),
      figure(r.p99Ms, 2),
      figure(r.maxMs, 2),
      r.target,
      r.met === undefined ? '-' : r.met ? 'yes' : 'NO',
      r.note,
    ]),
  ];
}

type Registry = ReturnType<typeof createClient<typeof RegistryService>>;

async function measureHandshakes(
  dialect: Dialect,
  registry: Registry,
  urls: { crls: string; registryOnly: string; bare: string },
): Promise<MtlsRow[]> {
  const registered = await registry.registerAgent({ agentName: `handshake.${dialect}.bench.example`, owner: 'bench' });
  const credentials = { ca: registered.chainPem, cert: registered.certPem, key: registered.privateKeyPem };
  const targets = [handshakeTarget(urls.bare, credentials), handshakeTarget(urls.crls, credentials), handshakeTarget(urls.registryOnly, credentials)];
  for (const target of targets) await target.run(HANDSHAKE_WARM_UP_MS, false);
  for (let round = 0; round < HANDSHAKE_ROUNDS; round++) {
    for (const target of targets) await target.run(HANDSHAKE_SLICE_MS, true);
  }
  const [bare, crls, registryOnly] = targets.map((target) => target.result()) as [HandshakeLoad, HandshakeLoad, HandshakeLoad];
  const how = (what: string, load: HandshakeLoad) =>
    `${what}; ${HANDSHAKE_CONNECTORS} connectors, handshake alone p50 ${load.handshakeP50Ms.toFixed(2)} ms${load.failures ? `, ${load.failures} failed` : ''}`;
  const checked = (scenario: string, load: HandshakeLoad, what: string): MtlsRow => {
    const ratio = load.perSecond / bare.perSecond;
    return { database: dialect, scenario, ...load, target: '>= 0.9 of bare', met: ratio >= 0.9, note: how(`${ratio.toFixed(2)} of bare; ${what}`, load) };
  };
  return [
    checked('handshake + GET /healthz, registry listener', crls, 'OpenSSL CRL checks and the registry-state check (MTLS_CRL_CHECK=true, the default)'),
    checked('handshake + GET /healthz, registry listener, MTLS_CRL_CHECK=false', registryOnly, 'the registry-state check alone'),
    { database: dialect, scenario: 'handshake + GET /healthz, bare TLS', ...bare, target: 'limit', note: how('https.createServer, same CA and client certificate, no checks', bare) },
  ];
}

interface HandshakeLoad extends Latencies {
  readonly perSecond: number;
  readonly handshakeP50Ms: number;
  readonly failures: number;
}

/**
 * Load on one server, HANDSHAKE_CONNECTORS new connections at a time, each one GET /healthz; run() adds a slice of
 * it, so that the two servers' slices can alternate and share whatever else the machine is doing.
 */
function handshakeTarget(url: string, credentials: Credentials) {
  const { hostname, port } = new URL(url);
  // One client context for every connection, so that this process parses the PEMs once and spends its time on handshakes.
  const secureContext = tls.createSecureContext(credentials);
  const totals: number[] = [];
  const handshakes: number[] = [];
  let elapsedMs = 0;
  let failures = 0;
  const run = async (ms: number, record: boolean) => {
    const started = performance.now();
    const worker = async () => {
      while (performance.now() < started + ms) {
        try {
          const { handshakeMs, totalMs } = await handshakeOnce(hostname, Number(port), secureContext);
          if (!record) continue;
          totals.push(totalMs);
          handshakes.push(handshakeMs);
        } catch {
          if (record) failures++;
        }
      }
    };
    await Promise.all(Array.from({ length: HANDSHAKE_CONNECTORS }, worker));
    if (record) elapsedMs += performance.now() - started;
  };
  const result = (): HandshakeLoad => ({
    ...latencies(totals),
    perSecond: (totals.length / elapsedMs) * 1000,
    handshakeP50Ms: latencies(handshakes).p50Ms,
    failures,
  });
  return { run, result };
}

/** One new TLS connection (no session offered, so a full handshake) and GET /healthz on it over HTTP/1.1. */
function handshakeOnce(host: string, port: number, secureContext: tls.SecureContext): Promise<{ handshakeMs: number; totalMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let handshakeMs = 0;
    let answer = '';
    const socket = tls.connect({ host, port, secureContext, session: undefined, ALPNProtocols: ['http/1.1'] });
    socket.setEncoding('latin1');
    socket.setTimeout(GIVE_UP_MS, () => socket.destroy(new Error('timed out')));
    socket.once('secureConnect', () => {
      handshakeMs = performance.now() - started;
      socket.write(`GET /healthz HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`);
    });
    socket.on('data', (chunk: string) => {
      answer += chunk;
      const end = answer.indexOf('\r\n');
      if (end < 0) return;
      const status = answer.slice(0, end).split(' ')[1];
      socket.end();
      if (status === '200') resolve({ handshakeMs, totalMs: performance.now() - started });
      else reject(new Error(`status ${status}`));
    });
    socket.on('error', reject);
    socket.once('close', () => reject(new Error('closed before a status line')));
  });
}

async function measureRevocation(dialect: Dialect, registry: Registry, mtlsUrl: string): Promise<MtlsRow[]> {
  const closedAfter: number[] = [];
  const refusedAfter: number[] = [];
  const revokeCalls: number[] = [];
  let retries = 0;
  for (let i = 0; i < REVOKED_AGENTS; i++) {
    const agentName = `revoke-${i}.${dialect}.bench.example`;
    const registered = await registry.registerAgent({ agentName, owner: 'bench' });
    const credentials = { ca: registered.chainPem, cert: registered.certPem, key: registered.privateKeyPem };
    const open = healthzOverMtls(mtlsUrl, credentials);
    const status = await open.status;
    if (status !== 200) throw new Error(`${agentName}: GET /healthz on B answered ${status} before the revoke`);
    const closed = new Promise<number>((resolve) => open.session.once('close', () => resolve(performance.now())));

    const revokedAt = performance.now();
    await registry.revokeAgent({ agentName, reason: 'keyCompromise' });
    revokeCalls.push(performance.now() - revokedAt);
    let refusedAt = Infinity;
    while (performance.now() - revokedAt < GIVE_UP_MS) {
      const fresh = healthzOverMtls(mtlsUrl, credentials);
      const freshStatus = await fresh.status;
      fresh.session.destroy();
      if (freshStatus !== 200) {
        refusedAt = performance.now();
        break;
      }
      retries++;
    }
    const closedAt = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), GIVE_UP_MS).unref())]);
    open.session.destroy();
    closedAfter.push(Math.min(closedAt - revokedAt, GIVE_UP_MS));
    refusedAfter.push(Math.min(refusedAt - revokedAt, GIVE_UP_MS));
  }
  const closing = latencies(closedAfter);
  const refusing = latencies(refusedAfter);
  const revokeP50 = latencies(revokeCalls).p50Ms.toFixed(1);
  return [
    {
      database: dialect,
      scenario: 'revoke on A -> open HTTP/2 connection closed by B',
      ...closing,
      target: 'p99 < 1000 ms',
      met: closing.p99Ms < 1000,
      note: `from the revoke being sent; the revoke call p50 ${revokeP50} ms`,
    },
    {
      database: dialect,
      scenario: 'revoke on A -> new connection refused by B',
      ...refusing,
      target: 'p99 < 1000 ms',
      met: refusing.p99Ms < 1000,
      note: `from the revoke being sent, attempted once it returned; ${retries} attempt(s) still accepted`,
    },
  ];
}


function latencies(values: readonly number[]): Latencies {
  const sorted = [...values].sort((a, b) => a - b);
  const quantile = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { samples: sorted.length, p50Ms: quantile(0.5), p99Ms: quantile(0.99), maxMs: sorted.at(-1) ?? 0 };
}

/** A child process running test/bench/<script>; resolves with the URLs it prints. */
async function start(script: string, env: NodeJS.ProcessEnv, children: ChildProcess[]): Promise<{ url: string; mtlsUrl?: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, script)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    child.stdout?.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString()) as { url: string; mtlsUrl?: string }));
  });
}

