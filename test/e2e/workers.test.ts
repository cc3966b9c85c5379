// `atr serve --workers 2`, the real CLI, on SQLite and PostgreSQL without Redis: both workers answer on the printed
// ports; a change through one worker is seen by the other before the change's answer arrives (lookups are cached for
// a minute and the database polls are a minute apart, so only the workers' IPC bus can bring it there); both workers'
// log entries land in one tree whose checkpoint and proofs verify; SIGTERM stops everything with exit 0; a killed
// worker is replaced; a port already taken stops the start with the reason.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import http2 from 'node:http2';
import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { Http2SessionManager, createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { TransparencyLogService } from '../../gen/atr/v1/transparency_log_pb.js';
import { VerifyReason } from '../../gen/atr/v1/verify_pb.js';
import { VerifyService } from '../../gen/atr/v1/verify_pb.js';
import { readCaKey } from '../../src/pki/ca-key.ts';
import { checkInclusion, checkLeafHash, verifyCheckpointResponse } from '../../src/sdk/log-checks.ts';
import { leafHash } from '../../src/tlog/hash.ts';
import { createNoteSigner } from '../../src/tlog/note.ts';
import { ATR_NODE_ARGS } from '../support/cli.ts';
import { dialects } from '../support/databases.ts';
import { processEnvironment } from '../support/server-process.ts';

/** Starting the CLI compiles it through tsx in three processes, on a machine that may be busy. */
const START_MS = 180_000;

interface Cluster {
  readonly child: ChildProcess;
  readonly url: string;
  readonly mtlsUrl: string;
  readonly pids: number[];
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  readonly stderr: () => string;
}

/** `atr serve` with `args` in `env`; resolves once it printed where it listens and its workers. */
async function startCli(env: NodeJS.ProcessEnv, args: readonly string[]): Promise<Cluster> {
  const child = spawn(process.execPath, [...ATR_NODE_ARGS, 'serve', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const printed = await new Promise<string>((resolve, reject) => {
    void exited.then(([code, signal]) => reject(new Error(`atr serve exited (${code ?? signal}) before it listened: ${stderr}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (/workers \(pids [\d, ]+\)\n/.test(stdout)) resolve(stdout);
    });
  });
  const line = (pattern: RegExp) => pattern.exec(printed)?.[1] ?? '';
  return {
    child,
    url: line(/^ATR listening on (\S+)$/m),
    mtlsUrl: line(/^agents \(mTLS\) on (\S+)$/m),
    pids: line(/workers \(pids ([\d, ]+)\)/).split(', ').map(Number),
    exited,
    stderr: () => stderr,
  };
}

/** The calls the tests make, over one HTTP/2 connection, and the worker that connection reached. */
function clientsOn(url: string) {
  const sessionManager = new Http2SessionManager(url);
  const transport = createGrpcTransport({ baseUrl: url, sessionManager });
  const log = createClient(TransparencyLogService, transport);
  return {
    close: () => sessionManager.abort(),
    registry: createClient(RegistryService, transport),
    resolve: createClient(ResolveService, transport),
    verify: createClient(VerifyService, transport),
    log,
    async worker(): Promise<string | null> {
      let worker: string | null = null;
      await log.getCheckpoint({}, { onHeader: (headers) => (worker = headers.get('atr-worker')) });
      return worker;
    },
  };
}

type Clients = ReturnType<typeof clientsOn>;

/** One connection to each worker: new connections are handed to the workers in turn. */
async function connectionPerWorker(url: string): Promise<{ one: Clients; two: Clients }> {
  const found = new Map<string | null, Clients>();
  for (let i = 0; i < 20 && found.size < 2; i++) {
    const clients = clientsOn(url);
    const worker = await clients.worker().catch(() => undefined);
    // Each worker limits the connections of one client address: close what is not kept.
    if (worker === undefined || found.has(worker)) clients.close();
    else found.set(worker, clients);
  }
  const one = found.get('1');
  const two = found.get('2');
  if (one === undefined || two === undefined) {
    for (const clients of found.values()) clients.close();
    throw new Error(`workers reached: ${[...found.keys()].join(', ')}`);
  }
  return { one, two };
}

/** A new mTLS connection with the agent's certificate: /healthz's status (or how it failed) and the worker that answered. */
function mtlsConnection(url: string, tls: { ca: string; cert: string; key: string }) {
  const session = http2.connect(url, tls);
  session.on('error', () => {});
  const answer = new Promise<{ status: number | string; worker?: string }>((resolve) => {
    const stream = session.request({ ':path': '/healthz' });
    stream.on('response', (headers) => resolve({ status: Number(headers[':status']), worker: String(headers['atr-worker']) }));
    stream.on('error', (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? 'error' }));
    session.on('close', () => resolve({ status: 'closed' }));
    stream.resume();
  });
  const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
  return { session, answer, closed };
}

/** The worker processes of the primary `pid`, from /proc. */
function workerPids(pid: number): number[] {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return children.filter((child) => {
    try {
      return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('serve');
    } catch {
      return false;
    }
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(dialects)('atr serve --workers 2 on %s', (dialect) => {
  const trustDomain = `workers-${Math.random().toString(16).slice(2)}.test`;
  let environment: Awaited<ReturnType<typeof processEnvironment>>;
  let cluster: Cluster;

  beforeAll(async () => {
    environment = await processEnvironment(dialect, {
      TRUST_DOMAIN: trustDomain,
      REDIS_ENABLED: 'false',
      CACHE_LOCAL_TTL_MS: '60000',
      REVOCATION_POLL_MS: '60000',
    });
    cluster = await startCli(environment.env, ['--workers', '2']);
  }, START_MS);
  afterAll(async () => {
    if (cluster?.child.exitCode === null) cluster.child.kill('SIGKILL');
    await environment?.cleanup();
  });

  it('prints one set of listening lines, and both workers answer on those ports', async () => {
    expect(cluster.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(cluster.mtlsUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(cluster.pids).toHaveLength(2);
    const { one, two } = await connectionPerWorker(cluster.url);
    expect([await one.worker(), await two.worker()]).toEqual(['1', '2']);
  });

  it('a revoke through one worker is refused by the other at once, by resolve and by verify', async () => {
    const { one, two } = await connectionPerWorker(cluster.url);
    const agentName = `revoked.${dialect}.example`;
    const { certPem } = await one.registry.registerAgent({ agentName, owner: 'o' });
    // Both workers hold the agent and its certificate in memory now.
    for (const on of [one, two, one, two]) {
      expect((await on.resolve.resolveAgent({ agentName })).status).toBe(AgentStatus.ACTIVE);
      expect((await on.verify.verifyCertificate({ certPem })).reason).toBe(VerifyReason.VERIFIED);
    }
    await one.registry.revokeAgent({ agentName, reason: 'keyCompromise' });
    expect((await two.resolve.resolveAgent({ agentName })).status).toBe(AgentStatus.REVOKED);
    expect((await two.verify.verifyCertificate({ certPem })).reason).toBe(VerifyReason.REVOKED);
    expect(await two.worker()).toBe('2');
  });

  it('an update through one worker is what the other answers at once', async () => {
    const { one, two } = await connectionPerWorker(cluster.url);
    const agentName = `updated.${dialect}.example`;
    await two.registry.registerAgent({ agentName, owner: 'o', description: 'before' });
    for (const on of [one, two]) expect((await on.resolve.resolveAgent({ agentName })).description).toBe('before');
    await two.registry.updateAgent({ agentName, description: 'after' });
    expect((await one.resolve.resolveAgent({ agentName })).description).toBe('after');
  });

  it('a revoked agent is refused at once on new mTLS connections to either worker, and its open ones are closed', async () => {
    const { one } = await connectionPerWorker(cluster.url);
    const agentName = `mtls.${dialect}.example`;
    const registered = await one.registry.registerAgent({ agentName, owner: 'o' });
    const tls = { ca: registered.chainPem, cert: registered.certPem, key: registered.privateKeyPem };
    // One open connection on each worker (new connections alternate), each having admitted the agent.
    const open = [mtlsConnection(cluster.mtlsUrl, tls), mtlsConnection(cluster.mtlsUrl, tls)];
    const answers = await Promise.all(open.map((connection) => connection.answer));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    expect(answers.map((answer) => answer.worker).sort()).toEqual(['1', '2']);

    await one.registry.revokeAgent({ agentName, reason: 'keyCompromise' });
    for (let i = 0; i < 4; i++) {
      const fresh = mtlsConnection(cluster.mtlsUrl, tls);
      expect((await fresh.answer).status).not.toBe(200);
      fresh.session.destroy();
    }
    // The revocation feed of each worker closes what it admitted; the other worker's hears of it over the bus.
    const closed = await Promise.race([Promise.all(open.map((connection) => connection.closed)).then(() => true), sleep(10_000).then(() => false)]);
    for (const connection of open) connection.session.destroy();
    expect(closed).toBe(true);
  });

  it("integrates both workers' log entries into one tree: the checkpoint and every inclusion proof verify", async () => {
    const { one, two } = await connectionPerWorker(cluster.url);
    const indexes: number[] = [];
    for (let i = 0; i < 6; i++) {
      const on = i % 2 === 0 ? one : two;
      const registered = await on.registry.registerAgent({ agentName: `logged-${i}.${dialect}.example`, owner: 'o' });
      indexes.push(Number(registered.logIndex));
    }
    expect(new Set(indexes).size).toBe(indexes.length);
    await two.log.publishCheckpoint({});
    // The key the primary created, read from its file: a checkpoint signed with any other key does not verify.
    const verifierKey = createNoteSigner(`${trustDomain}/log`, readCaKey(join(environment.env['PKI_ROOT_DIR'] ?? '', 'log.key'), undefined)).verifierKey;
    const checkpoint = await verifyCheckpointResponse(await one.log.getCheckpoint({}), verifierKey);
    expect(checkpoint.size).toBeGreaterThan(Math.max(...indexes));
    for (const [i, index] of indexes.entries()) {
      const on = i % 2 === 0 ? two : one;
      const { entry } = await on.log.getEntry({ index: BigInt(index) });
      const computed = leafHash(entry?.data ?? new Uint8Array());
      checkLeafHash(entry?.leafHash ?? '', computed);
      await checkInclusion(computed, index, checkpoint, (request) => on.log.getInclusionProof(request));
    }
  });

  it('replaces a worker that was killed', async () => {
    const [victim] = cluster.pids;
    process.kill(victim ?? 0, 'SIGKILL');
    let pids: number[] = [];
    for (let waited = 0; waited < START_MS; waited += 200) {
      pids = workerPids(cluster.child.pid ?? 0);
      if (pids.length === 2 && !pids.includes(victim ?? 0)) break;
      await sleep(200);
    }
    expect(pids).toHaveLength(2);
    expect(pids).not.toContain(victim);
    // The new worker takes the dead one's number, on the same ports; the listening lines said which.
    let reached: string[] = [];
    for (let waited = 0; waited < START_MS && reached.length < 2; waited += 500) {
      reached = await connectionPerWorker(cluster.url).then(
        ({ one, two }) => {
          one.close();
          two.close();
          return ['1', '2'];
        },
        () => [],
      );
      if (reached.length < 2) await sleep(500);
    }
    expect(reached).toEqual(['1', '2']);
    expect(cluster.stderr()).toContain('worker died; starting another in its place');
  }, START_MS * 2);

  it('stops every worker on SIGTERM and exits 0', async () => {
    const pids = workerPids(cluster.child.pid ?? 0);
    expect(pids).toHaveLength(2);
    cluster.child.kill('SIGTERM');
    const [code, signal] = await cluster.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  }, 60_000);
});

describe('atr serve --workers 2 on a port already taken', () => {
  it('exits 1 and says why', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    const environment = await processEnvironment('sqlite', { PORT: String(port) });
    try {
      const child = spawn(process.execPath, [...ATR_NODE_ARGS, 'serve', '--workers', '2'], { env: environment.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(1);
      expect(stderr).toMatch(/worker \d could not start: .*EADDRINUSE/);
    } finally {
      taken.close();
      await environment.cleanup();
    }
  }, START_MS);
});
