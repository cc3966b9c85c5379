// Request budgets in Redis: shared by every process of one registry, kept apart between registries, and counted in
// each process's memory while Redis is unreachable, down or hung, so requests are limited but never fail.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, type ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import type { Config } from '../../src/config/schema.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { dialects } from '../support/databases.ts';
import { rpcError } from '../support/rpc.ts';
import { runningServer } from '../support/server.ts';
import { type ServerProcess, processEnvironment, serverProcess } from '../support/server-process.ts';

const sharedRedis = 'redis://127.0.0.1:6379';

/** A trust domain of its own, so no other run shares these budgets in the shared Redis. */
const trustDomain = () => `rl-${randomBytes(6).toString('hex')}.test`;

const limited = (perMinute: number, overrides: Partial<Config> = {}): Partial<Config> => ({
  rateLimitEnabled: true,
  rateLimitPerMinute: perMinute,
  trustDomain: trustDomain(),
  ...overrides,
});

const registryAt = (baseUrl: string) => createClient(RegistryService, createConnectTransport({ baseUrl, httpVersion: '1.1' }));

/** Makes `n` reads through `client` and fails unless every one of them is answered. */
async function allAnswered(n: number, client: ReturnType<typeof registryAt>): Promise<void> {
  for (let i = 0; i < n; i++) await client.listAgents({});
}

function expectRateLimited(error: ConnectError): void {
  expect(error.code).toBe(Code.ResourceExhausted);
  expect(error.rawMessage).toMatch(/^rate limit: \d+ requests per minute per client address; retry in \d+ s$/);
  expect(error.metadata.get('retry-after')).toMatch(/^[1-9]\d*$/);
}

describe.each(dialects)('two registry processes on one %s database and one Redis', (dialect) => {
  let environment: Awaited<ReturnType<typeof processEnvironment>>;
  const servers: ServerProcess[] = [];
  let urls: string[];

  beforeAll(async () => {
    environment = await processEnvironment(dialect, {
      TRUST_DOMAIN: trustDomain(),
      REDIS_URL: sharedRedis,
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_PER_MINUTE: '6',
    });
    servers.push(await serverProcess(environment.env));
    servers.push(await serverProcess(environment.env));
    urls = servers.map((server) => server.url);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await environment?.cleanup();
  });

  it('spend one budget for requests spread over both', async () => {
    const [a, b] = urls.map(registryAt) as [ReturnType<typeof registryAt>, ReturnType<typeof registryAt>];
    for (let i = 0; i < 3; i++) {
      await a.listAgents({});
      await b.listAgents({});
    }
    expectRateLimited(await rpcError(a.listAgents({})));
    expectRateLimited(await rpcError(b.listAgents({})));
    const rest = await fetch(`${urls[1]}/v1/agents`);
    expect(rest.status).toBe(429);
    expect(rest.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
  });
});

describe('registries with different trust domains on one Redis', () => {
  it('keep their budgets apart', async () => {
    const a = await runningServer('sqlite', limited(2, { redisUrl: sharedRedis }));
    const b = await runningServer('sqlite', limited(2, { redisUrl: sharedRedis }));
    try {
      await allAnswered(2, registryAt(a.server.url));
      await allAnswered(2, registryAt(b.server.url));
      expectRateLimited(await rpcError(registryAt(a.server.url).listAgents({})));
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
  });
});

describe('with Redis unreachable from the start', () => {
  it('limits each process in memory and answers every other request', async () => {
    const server = await runningServer('sqlite', limited(3, { redisUrl: 'redis://127.0.0.1:1' }));
    try {
      const registry = registryAt(server.server.url);
      await allAnswered(3, registry);
      expectRateLimited(await rpcError(registry.listAgents({})));
      expect(await server.server.app.readiness()).toMatchObject({ ready: true, degraded: true });
    } finally {
      await server.cleanup();
    }
  });
});

/** A redis-server of this test's own on a free port, so stopping it disturbs no one else. */
class OwnRedis {
  private child: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<OwnRedis> {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const redis = new OwnRedis(port, mkdtempSync(join(tmpdir(), 'atr-rl-redis-')));
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server, empty (nothing is saved), unless it runs; resolves once it answers. */
  async restart(): Promise<void> {
    if (this.running()) return;
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir];
    this.child = spawn('redis-server', args, { stdio: 'ignore' });
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    client.on('error', () => undefined);
    try {
      await vi.waitFor(async () => expect(await client.ping()).toBe('PONG'), { timeout: 10_000, interval: 50 });
    } finally {
      client.disconnect();
    }
  }

  private running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running()) return;
    await new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGTERM');
    });
  }

  /** Freezes the server: connections stay open, commands go unanswered. */
  hang(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async close(): Promise<void> {
    this.resume();
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('with a Redis that goes away', () => {
  let redis: OwnRedis;
  beforeAll(async () => {
    redis = await OwnRedis.start();
  });
  afterAll(async () => {
    await redis?.close();
  });

  /** Two processes of one registry on `redis`, each with its own Redis client. */
  async function twoServers(perMinute: number) {
    const overrides = limited(perMinute, { redisUrl: redis.url });
    const a = await runningServer('sqlite', overrides);
    const b = await runningServer('sqlite', overrides);
    const ready = (server: RunningServer) => server.app.redis?.status === 'ready';
    await vi.waitFor(() => expect(ready(a.server) && ready(b.server)).toBe(true), { timeout: 5_000, interval: 20 });
    return {
      a: registryAt(a.server.url),
      b: registryAt(b.server.url),
      servers: [a.server, b.server],
      ready: () => ready(a.server) && ready(b.server),
      async cleanup() {
        await a.cleanup();
        await b.cleanup();
      },
    };
  }

  it('counts in each process while Redis is down, and in Redis again once it is back', async () => {
    const { a, b, ready, cleanup } = await twoServers(4);
    try {
      // Two of the shared four spent.
      await a.listAgents({});
      await b.listAgents({});

      await redis.stop();
      await vi.waitFor(() => expect(ready()).toBe(false), { timeout: 5_000, interval: 20 });
      // Each process now has its own four: shared, only two would be left.
      await allAnswered(4, a);
      expectRateLimited(await rpcError(a.listAgents({})));
      await allAnswered(4, b);
      expectRateLimited(await rpcError(b.listAgents({})));

      await redis.restart();
      await vi.waitFor(() => expect(ready()).toBe(true), { timeout: 15_000, interval: 50 });
      // The restarted Redis is empty, and both processes count in it again: the in-memory budgets, spent above,
      // would refuse at once.
      await a.listAgents({});
      await b.listAgents({});
      await a.listAgents({});
      await b.listAgents({});
      expectRateLimited(await rpcError(a.listAgents({})));
      expectRateLimited(await rpcError(b.listAgents({})));
    } finally {
      await cleanup();
      // The next test needs it, whatever failed here.
      await redis.restart();
    }
  }, 60_000);

  it('counts in each process while Redis hangs', async () => {
    const { a, b, cleanup } = await twoServers(2);
    try {
      redis.hang();
      // Each command gives up after half a second; the process's own budget answers instead.
      await allAnswered(2, a);
      expectRateLimited(await rpcError(a.listAgents({})));
      await allAnswered(2, b);
      expectRateLimited(await rpcError(b.listAgents({})));
    } finally {
      redis.resume();
      await cleanup();
    }
  }, 60_000);
});
