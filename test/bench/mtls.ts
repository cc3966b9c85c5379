// The mTLS listener's rows of `npm run bench`, against registry processes started from test/bench/serve.ts on a
// fresh database per dialect (a SQLite file; PostgreSQL too when DATABASE_URL or ATR_TEST_POSTGRES_URL names a server):
//   handshakes: HANDSHAKE_CONNECTORS connectors in this process, each opening a new TLS connection with an agent's
//               certificate, sending GET /healthz over HTTP/1.1 and counting the connection once the 200 arrives: an
//               accepted connection. Full handshakes offer no session; resumed ones offer the session ticket the
//               connector's previous connection was sent (TLS 1.3 PSK with a fresh ECDHE, no certificate sent or
//               verified), and the row says how many did resume. Beside them, in alternating slices of the same run,
//               the same loads against a bare Node HTTPS server (test/bench/bare-tls.ts) with a server certificate
//               from the same CA, the same trust anchors and client certificate, Node's default session tickets and
//               no registry check; and full handshakes against a registry listener with MTLS_CRL_CHECK=false.
//               Each row also gives the server process's CPU time per accepted connection (user + system, from
//               /proc, less what the process spends idle: the registry's timers and polls) and its ratio to the bare
//               server's: on a machine shared with other work the rate follows whatever CPU share the servers get,
//               while CPU per connection does not.
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
import { processCpuMs } from './process-cpu.ts';

const HANDSHAKE_CONNECTORS = 16;
const HANDSHAKE_WARM_UP_MS = 500;
/** Each load is run for HANDSHAKE_ROUNDS slices of HANDSHAKE_SLICE_MS, the loads' slices alternating. */
const HANDSHAKE_ROUNDS = 4;
const HANDSHAKE_SLICE_MS = 1000;
/** How long the servers' CPU time is measured without load. */
const IDLE_MS = 2000;
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
      const servers = { crls: { url: b.mtlsUrl ?? '', pid: b.pid }, registryOnly: { url: withoutCrls.mtlsUrl ?? '', pid: withoutCrls.pid }, bare };
      rows.push(...(await measureHandshakes(dialect, registry, servers)));
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
  servers: { crls: Server; registryOnly: Server; bare: Server },
): Promise<MtlsRow[]> {
  const registered = await registry.registerAgent({ agentName: `handshake.${dialect}.bench.example`, owner: 'bench' });
  const credentials = { ca: registered.chainPem, cert: registered.certPem, key: registered.privateKeyPem };
  const targets = [
    handshakeTarget(servers.bare, credentials, false),
    handshakeTarget(servers.crls, credentials, false),
    handshakeTarget(servers.registryOnly, credentials, false),
    handshakeTarget(servers.bare, credentials, true),
    handshakeTarget(servers.crls, credentials, true),
  ];
  await Promise.all(targets.map((target) => target.measureIdle(IDLE_MS)));
  for (const target of targets) await target.run(HANDSHAKE_WARM_UP_MS, false);
  for (let round = 0; round < HANDSHAKE_ROUNDS; round++) {
    for (const target of targets) await target.run(HANDSHAKE_SLICE_MS, true);
  }
  const [bare, crls, registryOnly, bareResumed, crlsResumed] = targets.map((target) => target.result()) as [
    HandshakeLoad,
    HandshakeLoad,
    HandshakeLoad,
    HandshakeLoad,
    HandshakeLoad,
  ];
  const how = (what: string, load: HandshakeLoad) => {
    const resumed = load.resumed > 0 ? `, ${((load.resumed / load.samples) * 100).toFixed(0)}% resumed` : '';
    const cpu = load.cpuMsPerConnection === undefined ? '' : `, server CPU ${load.cpuMsPerConnection.toFixed(2)} ms a connection`;
    return `${what}; ${HANDSHAKE_CONNECTORS} connectors, handshake alone p50 ${load.handshakeP50Ms.toFixed(2)} ms${cpu}${resumed}${load.failures ? `, ${load.failures} failed` : ''}`;
  };
  const checked = (scenario: string, load: HandshakeLoad, limit: HandshakeLoad, what: string): MtlsRow => {
    const ratio = load.perSecond / limit.perSecond;
    const cpuRatio = load.cpuMsPerConnection && limit.cpuMsPerConnection && limit.cpuMsPerConnection / load.cpuMsPerConnection;
    const ratios = `${ratio.toFixed(2)} of bare${cpuRatio ? ` (by CPU a connection ${cpuRatio.toFixed(2)})` : ''}`;
    return { database: dialect, scenario, ...load, target: '>= 0.95 of bare', met: ratio >= 0.95, note: how(`${ratios}; ${what}`, load) };
  };
  const limit = (scenario: string, load: HandshakeLoad): MtlsRow => ({
    database: dialect,
    scenario,
    ...load,
    target: 'limit',
    note: how('https.createServer, same CA and client certificate, no checks', load),
  });
  return [
    checked('full handshake + GET /healthz, registry listener', crls, bare, 'the registry-state and CRL checks (MTLS_CRL_CHECK=true, the default)'),
    checked('full handshake + GET /healthz, registry listener, MTLS_CRL_CHECK=false', registryOnly, bare, 'the registry-state check alone'),
    limit('full handshake + GET /healthz, bare TLS', bare),
    checked('resumed handshake + GET /healthz, registry listener', crlsResumed, bareResumed, 'the same checks on every resumed connection'),
    limit('resumed handshake + GET /healthz, bare TLS', bareResumed),
  ];
}

interface HandshakeLoad extends Latencies {
  readonly perSecond: number;
  readonly handshakeP50Ms: number;
  /** Connections that resumed a session. */
  readonly resumed: number;
  readonly failures: number;
  /** The server's CPU time over its slices, per accepted connection; undefined without /proc. */
  readonly cpuMsPerConnection: number | undefined;
}

interface Server {
  readonly url: string;
  readonly pid: number | undefined;
}

/**
 * Load on one server, HANDSHAKE_CONNECTORS new connections at a time, each one GET /healthz, full handshakes or
 * resumed ones; run() adds a slice of it, so that the loads' slices can alternate and share whatever else the
 * machine is doing.
 */
function handshakeTarget({ url, pid }: Server, credentials: Credentials, resume: boolean) {
  const { hostname, port } = new URL(url);
  // One client context for every connection, so that this process parses the PEMs once and spends its time on handshakes.
  const secureContext = tls.createSecureContext(credentials);
  // Each connector's last session ticket, kept across slices.
  const sessions: (Buffer | undefined)[] = [];
  const totals: number[] = [];
  const handshakes: number[] = [];
  let elapsedMs = 0;
  let cpuMs: number | undefined = 0;
  let idleCpuPerMs = 0;
  let resumed = 0;
  let failures = 0;
  const run = async (ms: number, record: boolean) => {
    const started = performance.now();
    const cpuBefore = processCpuMs(pid);
    const worker = async (connector: number) => {
      while (performance.now() < started + ms) {
        try {
          const result = await handshakeOnce(hostname, Number(port), secureContext, resume ? sessions[connector] : undefined);
          sessions[connector] = result.session ?? sessions[connector];
          if (!record) continue;
          totals.push(result.totalMs);
          handshakes.push(result.handshakeMs);
          if (result.reused) resumed++;
        } catch {
          sessions[connector] = undefined;
          if (record) failures++;
        }
      }
    };
    await Promise.all(Array.from({ length: HANDSHAKE_CONNECTORS }, (_, connector) => worker(connector)));
    if (!record) return;
    elapsedMs += performance.now() - started;
    const cpuAfter = processCpuMs(pid);
    cpuMs = cpuMs === undefined || cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuMs + cpuAfter - cpuBefore;
  };
  const measureIdle = async (ms: number) => {
    const before = processCpuMs(pid);
    await new Promise((resolve) => setTimeout(resolve, ms));
    const after = processCpuMs(pid);
    if (before !== undefined && after !== undefined) idleCpuPerMs = (after - before) / ms;
  };
  const result = (): HandshakeLoad => ({
    ...latencies(totals),
    perSecond: (totals.length / elapsedMs) * 1000,
    handshakeP50Ms: latencies(handshakes).p50Ms,
    resumed,
    failures,
    cpuMsPerConnection: cpuMs === undefined || totals.length === 0 ? undefined : (cpuMs - idleCpuPerMs * elapsedMs) / totals.length,
  });
  return { measureIdle, run, result };
}

interface Handshake {
  readonly handshakeMs: number;
  readonly totalMs: number;
  readonly reused: boolean;
  /** The last session ticket the server sent. */
  readonly session: Buffer | undefined;
}

/** One new TLS connection, resuming `session` when one is given, and GET /healthz on it over HTTP/1.1. */
function handshakeOnce(host: string, port: number, secureContext: tls.SecureContext, session: Buffer | undefined): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let handshakeMs = 0;
    let answer = '';
    let ticket: Buffer | undefined;
    const socket = tls.connect({ host, port, secureContext, session, ALPNProtocols: ['http/1.1'] });
    socket.on('session', (next: Buffer) => (ticket = next));
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
      if (status === '200') resolve({ handshakeMs, totalMs: performance.now() - started, reused: socket.isSessionReused(), session: ticket });
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

/** A child process running test/bench/<script>; resolves with the URLs it prints and its process id. */
async function start(script: string, env: NodeJS.ProcessEnv, children: ChildProcess[]): Promise<{ url: string; mtlsUrl?: string; pid: number | undefined }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, script)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const printed = await new Promise<{ url: string; mtlsUrl?: string }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    child.stdout?.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString()) as { url: string; mtlsUrl?: string }));
  });
  return { ...printed, pid: child.pid };
}


