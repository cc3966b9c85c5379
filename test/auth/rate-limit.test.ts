// Request budgets on one registry process: what a refused caller sees on each protocol, which calls spend from
// which budget, who is counted, and what is never limited. Budgets live in memory here; rate-limit-redis.test.ts
// shares them between processes.
import { randomBytes } from 'node:crypto';
import { Code, type Interceptor, createClient, createRouterTransport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { Health, HealthCheckResponse_ServingStatus } from '../../gen/grpc/health/v1/health_pb.js';
import type { Config } from '../../src/config/schema.ts';
import { createApp } from '../../src/server/app.ts';
import { errorInterceptor } from '../../src/server/errors.ts';
import { routes } from '../../src/server/routes.ts';
import type { Principal } from '../../src/auth/principal.ts';
import { clientAddressKey, principalKey } from '../../src/services/context.ts';
import { dialects } from '../support/databases.ts';
import { rpcError } from '../support/rpc.ts';
import { runningServer, testEnvironment } from '../support/server.ts';

/** A trust domain of its own, so no other run shares these budgets. */
const trustDomain = () => `rl-${randomBytes(6).toString('hex')}.test`;

const limited = (overrides: Partial<Config>): Partial<Config> => ({
  rateLimitEnabled: true,
  rateLimitPerMinute: 1_000,
  rateLimitPerHour: 10_000,
  rateLimitRegisterPerMinute: 1_000,
  rateLimitRegisterPerHour: 10_000,
  trustDomain: trustDomain(),
  ...overrides,
});

async function times(n: number, call: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < n; i++) await call();
}

function expectRateLimited(error: { code: Code; rawMessage: string; metadata: Headers }, budget: RegExp): number {
  expect(error.code).toBe(Code.ResourceExhausted);
  expect(error.rawMessage).toMatch(budget);
  expect(error.metadata.get('atr-error-code')).toBe('rate_limited');
  const retryAfter = error.metadata.get('retry-after') ?? '';
  expect(retryAfter).toMatch(/^[1-9]\d*$/);
  expect(error.rawMessage).toContain(`retry in ${retryAfter} s`);
  return Number(retryAfter);
}

describe.each(dialects)('rate limits on one server (%s)', (dialect) => {
  it('counts requests with bad API keys against the client address, so keys cannot be guessed at full speed', async () => {
    const server = await runningServer(dialect, limited({ rateLimitPerMinute: 3, apiKeyEnabled: true }));
    try {
      const guess = () => fetch(`${server.server.url}/v1/agents`, { headers: { 'x-api-key': `atr_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('hex')}` } });
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await guess()).status);
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
    } finally {
      await server.cleanup();
    }
  });

  it('meters the plain HTTP reads (trust bundle, CRL, tiles, /metrics) by a read budget per client address, with 429 and retry-after', async () => {
    const server = await runningServer(dialect, limited({ rateLimitReadsPerMinute: 4 }));
    try {
      const { url } = server.server;
      const paths = ['/v1/trust-bundle', '/v1/crl', '/log/checkpoint', '/metrics'];
      const statuses = [];
      for (const path of paths) statuses.push((await fetch(`${url}${path}`)).status);
      expect(statuses).toEqual([200, 200, 200, 200]);
      for (const path of paths) {
        const res = await fetch(`${url}${path}`);
        expect([path, res.status]).toEqual([path, 429]);
        expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
        expect(await res.json()).toEqual({
          code: 'rate_limited',
          detail: expect.stringMatching(/^rate limit: 4 plain HTTP reads per minute per client address; retry in \d+ s$/),
        });
      }
      // Health probes are never metered; the API has budgets of its own.
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect((await fetch(`${url}/v1/agents`)).status).toBe(200);
    } finally {
      await server.cleanup();
    }
  });

  it('makes guessed keys on the plain reads spend the address\'s request budget too: 429, not 401, once it is spent', async () => {
    const server = await runningServer(dialect, limited({ rateLimitPerMinute: 3, apiKeyEnabled: true, publicReads: false }));
    try {
      const { url } = server.server;
      const guess = () => ({ 'x-api-key': `atr_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('hex')}` });
      const statuses = [];
      for (const path of ['/v1/crl', '/v1/trust-bundle', '/log/checkpoint']) statuses.push((await fetch(`${url}${path}`, { headers: guess() })).status);
      expect(statuses).toEqual([401, 401, 401]);
      // The address's request budget is spent: the API and every keyed read answer 429.
      expect((await fetch(`${url}/v1/agents`, { headers: guess() })).status).toBe(429);
      for (const path of ['/v1/crl', '/v1/trust-bundle', '/log/checkpoint', '/metrics']) {
        expect([path, (await fetch(`${url}${path}`, { headers: guess() })).status]).toEqual([path, 429]);
      }
    } finally {
      await server.cleanup();
    }
  });

  describe('a client address over its per-minute budget', () => {
    let server: Awaited<ReturnType<typeof runningServer>>;
    beforeAll(async () => {
      server = await runningServer(dialect, limited({ rateLimitPerMinute: 4 }));
    });
    afterAll(async () => {
      await server?.cleanup();
    });

    it('is refused with ResourceExhausted and retry-after on Connect, gRPC and gRPC-Web, and with 429 on REST', async () => {
      const baseUrl = server.server.url;
      const connect = createClient(RegistryService, createConnectTransport({ baseUrl, httpVersion: '1.1' }));
      await times(4, () => connect.listAgents({}));

      const refused = await rpcError(connect.listAgents({}));
      const retryAfter = expectRateLimited(refused, /^rate limit: 4 requests per minute per client address; retry in \d+ s$/);
      expect(retryAfter).toBeLessThanOrEqual(60);

      // The same address on other protocols spends the same budget.
      const grpc = createClient(RegistryService, createGrpcTransport({ baseUrl }));
      expectRateLimited(await rpcError(grpc.listAgents({})), /per minute per client address/);
      const grpcWeb = createClient(RegistryService, createGrpcWebTransport({ baseUrl, httpVersion: '1.1' }));
      expectRateLimited(await rpcError(grpcWeb.listAgents({})), /per minute per client address/);

      const rest = await fetch(`${baseUrl}/v1/agents`);
      expect(rest.status).toBe(429);
      expect(rest.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      expect(rest.headers.get('content-type')).toBe('application/json');
      expect(await rest.json()).toEqual({
        code: 'rate_limited',
        detail: `rate limit: 4 requests per minute per client address; retry in ${rest.headers.get('retry-after')} s`,
      });
    });

    it('sends Retry-After as an HTTP header on the Connect protocol', async () => {
      const connect = await fetch(`${server.server.url}/atr.v1.RegistryService/ListAgents`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(connect.status).toBe(429);
      expect(connect.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      expect(await connect.json()).toMatchObject({ code: 'resource_exhausted' });
    });

    it('still answers health checks, /healthz and /readyz', async () => {
      const health = createClient(Health, createGrpcTransport({ baseUrl: server.server.url }));
      for (let i = 0; i < 10; i++) {
        expect((await health.check({ service: '' })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
        expect((await fetch(`${server.server.url}/healthz`)).status).toBe(200);
        expect((await fetch(`${server.server.url}/readyz`)).status).toBe(200);
      }
    });

    it('counts the refusals by budget for metrics', () => {
      const counts = server.server.app.rateLimits?.limitedCount() ?? {};
      expect(Object.keys(counts)).toEqual(['minute:address']);
      expect(counts['minute:address']).toBeGreaterThanOrEqual(5);
    });
  });

  describe('registrations, rotations and renewals', () => {
    let server: Awaited<ReturnType<typeof runningServer>>;
    beforeAll(async () => {
      server = await runningServer(dialect, limited({ rateLimitPerMinute: 20, rateLimitRegisterPerMinute: 2 }));
    });
    afterAll(async () => {
      await server?.cleanup();
    });

    it('hit their stricter budget while reads go on', async () => {
      const registry = createClient(RegistryService, createConnectTransport({ baseUrl: server.server.url, httpVersion: '1.1' }));
      const first = await registry.registerAgent({ agentName: `one.${dialect}.example`, owner: 'o' });
      await registry.registerAgent({ agentName: `two.${dialect}.example`, owner: 'o' });

      const budget = /^rate limit: 2 registrations, rotations and renewals per minute per client address; retry in \d+ s$/;
      expectRateLimited(await rpcError(registry.registerAgent({ agentName: `three.${dialect}.example`, owner: 'o' })), budget);
      expectRateLimited(await rpcError(registry.rotateCertificate({ agentName: first.agent?.agentName ?? '' })), budget);
      // Nothing was written by the refused calls.
      expect((await registry.listAgents({})).agents.map((a) => a.agentName).sort()).toEqual([`one.${dialect}.example`, `two.${dialect}.example`]);

      const rest = await fetch(`${server.server.url}/v1/agents`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ agent_name: `four.${dialect}.example`, owner: 'o' }),
      });
      expect(rest.status).toBe(429);
      expect(rest.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      expect(await rest.json()).toMatchObject({ code: 'rate_limited', detail: expect.stringMatching(budget) });

      // Every call so far, refused ones included, spent from the general budget too: 6 of 20.
      await times(14, () => registry.listAgents({}));
      expectRateLimited(await rpcError(registry.listAgents({})), /^rate limit: 20 requests per minute per client address/);
      expect(server.server.app.rateLimits?.limitedCount()).toEqual({ 'register_minute:address': 3, 'minute:address': 1 });
    });
  });

  describe('the hourly budget', () => {
    let server: Awaited<ReturnType<typeof runningServer>>;
    beforeAll(async () => {
      server = await runningServer(dialect, limited({ rateLimitPerMinute: 100, rateLimitPerHour: 3 }));
    });
    afterAll(async () => {
      await server?.cleanup();
    });

    it('refuses with the wait until its window ends', async () => {
      const registry = createClient(RegistryService, createConnectTransport({ baseUrl: server.server.url, httpVersion: '1.1' }));
      await times(3, () => registry.listAgents({}));
      const retryAfter = expectRateLimited(await rpcError(registry.listAgents({})), /^rate limit: 3 requests per hour per client address/);
      expect(retryAfter).toBeGreaterThan(60);
      expect(retryAfter).toBeLessThanOrEqual(3_600);
    });
  });

  it('are off unless RATE_LIMIT_ENABLED', async () => {
    const server = await runningServer(dialect, { rateLimitPerMinute: 1, trustDomain: trustDomain() });
    try {
      expect(server.server.app.rateLimits).toBeUndefined();
      const registry = createClient(RegistryService, createConnectTransport({ baseUrl: server.server.url, httpVersion: '1.1' }));
      await times(5, () => registry.listAgents({}));
    } finally {
      await server.cleanup();
    }
  });

  it('are not shared between two processes without Redis', async () => {
    const overrides = limited({ rateLimitPerMinute: 3 });
    const a = await runningServer(dialect, overrides);
    const b = await runningServer(dialect, overrides);
    try {
      const onA = createClient(RegistryService, createConnectTransport({ baseUrl: a.server.url, httpVersion: '1.1' }));
      const onB = createClient(RegistryService, createConnectTransport({ baseUrl: b.server.url, httpVersion: '1.1' }));
      await times(3, () => onA.listAgents({}));
      await times(3, () => onB.listAgents({}));
      expectRateLimited(await rpcError(onA.listAgents({})), /per minute per client address/);
      expectRateLimited(await rpcError(onB.listAgents({})), /per minute per client address/);
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
  });
});

describe('who a budget counts', () => {
  // Authentication decides the principal before the rate limit runs; this stands in for it (and for distinct
  // client addresses, which one test machine does not have), setting both from the test.
  const caller =
    (address: string, principal: Principal): Interceptor =>
    (next) =>
    (req) => {
      req.contextValues.set(clientAddressKey, address).set(principalKey, principal);
      return next(req);
    };
  const key = (keyId: string): Principal => ({ kind: 'key', keyId, role: 'reader', owner: undefined });
  const agent = (name: string): Principal => ({ kind: 'agent', name });
  const anonymous: Principal = { kind: 'anonymous' };

  let app: Awaited<ReturnType<typeof createApp>>;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const environment = await testEnvironment('sqlite', limited({ rateLimitPerMinute: 3 }));
    app = await createApp(environment.config);
    cleanup = async () => {
      await app.close();
      await environment.cleanup();
    };
  });
  afterAll(async () => {
    await cleanup?.();
  });

  const clientAs = (address: string, principal: Principal) =>
    createClient(
      RegistryService,
      createRouterTransport(routes(app), {
        router: { interceptors: [errorInterceptor, caller(address, principal), ...(app.rateLimits ? [app.rateLimits.byAddress, app.rateLimits.byPrincipal] : [])] },
      }),
    );

  it('an API key across client addresses', async () => {
    for (const address of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) await clientAs(address, key('k1')).listAgents({});
    expectRateLimited(await rpcError(clientAs('10.0.1.1', key('k1')).listAgents({})), /^rate limit: 3 requests per minute per API key;/);
    // Another key from a fresh address is not affected.
    await clientAs('10.0.1.2', key('k2')).listAgents({});
  });

  it('an agent across client addresses', async () => {
    for (const address of ['10.0.2.1', '10.0.2.2', '10.0.2.3']) await clientAs(address, agent('a.example')).listAgents({});
    expectRateLimited(await rpcError(clientAs('10.0.2.250', agent('a.example')).listAgents({})), /^rate limit: 3 requests per minute per agent;/);
  });

  it('a client address across keys, agents and anonymous callers', async () => {
    await clientAs('10.0.3.1', key('k3')).listAgents({});
    await clientAs('10.0.3.1', agent('b.example')).listAgents({});
    await clientAs('10.0.3.1', anonymous).listAgents({});
    expectRateLimited(await rpcError(clientAs('10.0.3.1', key('k4')).listAgents({})), /^rate limit: 3 requests per minute per client address;/);
  });

  it('anonymous callers by address only', async () => {
    await times(3, () => clientAs('10.0.4.1', anonymous).listAgents({}));
    await times(3, () => clientAs('10.0.4.2', anonymous).listAgents({}));
    expectRateLimited(await rpcError(clientAs('10.0.4.1', anonymous).listAgents({})), /per client address/);
  });
});
