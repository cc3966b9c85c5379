// The lookup cache in front of the registry's store, over a real database (SQLite; PostgreSQL when configured) and
// real Redis: several registries in this process stand for the processes of one deployment (same database, same
// Redis, same trust domain). test/cache/two-processes.test.ts does the same with OS processes and real clients.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CachedRegistryStore } from '../../src/cache/cached-store.ts';
import { createCommandClient } from '../../src/cache/redis-client.ts';
import type { Config } from '../../src/config/schema.ts';
import type { Dialect } from '../../src/config/database-url.ts';
import { openDatabase } from '../../src/db/orm.ts';
import { SqlRegistryStore } from '../../src/db/registry-store.ts';
import type { AgentRecord } from '../../src/registry/records.ts';
import type { RegistryStore } from '../../src/registry/store.ts';
import { type App, createApp } from '../../src/server/app.ts';
import { dialects } from '../support/databases.ts';
import { testEnvironment } from '../support/server.ts';
import { type TcpProxy, tcpProxy } from './own-redis.ts';

const redisUrl = 'redis://127.0.0.1:6379';

const unique = (label: string) => `${label}-${randomBytes(4).toString('hex')}.example`;

/** Resolves once the app's cache reads Redis (connected, the server identified). */
async function servingFromRedis(app: App): Promise<void> {
  await vi.waitFor(() => expect(app.cache?.stats().redis?.serving).toBe(true), { timeout: 10_000, interval: 20 });
}

async function register(app: App, label: string): Promise<{ name: string; fingerprint: string; pem: string }> {
  const issued = await app.registry.register({ agentName: unique(label), owner: 'o', capabilities: [] }, 'test');
  return { name: issued.agent.name, fingerprint: issued.agent.certificate!.fingerprint, pem: issued.certPem };
}

/**
 * Registries sharing one fresh database, CA directory and trust domain, on the shared Redis unless told otherwise:
 * the processes of one deployment. Each is returned once it reads Redis; close() closes them all.
 */
async function deployment(dialect: Dialect, label: string) {
  const trustDomain = `${label}-${randomBytes(6).toString('hex')}.test`;
  const environment = await testEnvironment(dialect, { trustDomain, redisUrl });
  const apps: App[] = [];
  return {
    environment,
    trustDomain,
    async open(overrides: Partial<Config> = {}): Promise<App> {
      const app = await createApp({ ...environment.config, ...overrides });
      apps.push(app);
      await servingFromRedis(app);
      return app;
    },
    async close(): Promise<void> {
      for (const app of apps) await app.close();
      await environment.cleanup();
    },
  };
}

describe.each(dialects)('the lookup cache on %s and Redis', (dialect) => {
  let registries: Awaited<ReturnType<typeof deployment>>;
  let open: (overrides?: Partial<Config>) => Promise<App>;
  /** Memory and Redis, as configured by default. */
  let a: App;
  /** Redis only (CACHE_LOCAL_TTL_MS=0): whatever it answers came from Redis or the database. */
  let b: App;

  beforeAll(async () => {
    registries = await deployment(dialect, 'cache');
    open = registries.open;
    a = await open();
    b = await open({ cacheLocalTtlMs: 0 });
  });
  afterAll(async () => {
    await registries?.close();
  });

  it('answers resolve and verify lookups from memory and from Redis, equal to the database', async () => {
    const agent = await register(a, 'cached');
    const before = { a: a.cache!.stats(), b: b.cache!.stats() };
    const fromDatabase = await a.store.findAgent(agent.name);
    expect(await a.store.findAgent(agent.name)).toBe(fromDatabase);
    const fromRedis = await b.store.findAgent(agent.name);
    expect(fromRedis).toStrictEqual(fromDatabase);
    expect(fromRedis).not.toBe(fromDatabase);

    const certificateFromDatabase = await b.store.findCertificate(agent.fingerprint);
    // The first lookup of a fingerprint learns its agent; the next fills Redis under the agent's version.
    expect(await b.store.findCertificate(agent.fingerprint)).toStrictEqual(certificateFromDatabase);
    expect(await b.store.findCertificate(agent.fingerprint)).toStrictEqual(certificateFromDatabase);
    expect(await a.store.findCertificate(agent.fingerprint)).toStrictEqual(certificateFromDatabase);
    expect(certificateFromDatabase).toMatchObject({ agent: { name: agent.name }, certificate: { fingerprint: agent.fingerprint } });

    const after = { a: a.cache!.stats(), b: b.cache!.stats() };
    expect(after.a.local.hits - before.a.local.hits).toBe(1);
    expect(after.b.local.hits).toBe(0);
    expect(after.b.redis!.hits - before.b.redis!.hits).toBe(2);
    expect(after.a.redis!.hits - before.a.redis!.hits).toBe(1);
    expect(after.a.redis!.errors + after.b.redis!.errors).toBe(0);
  });

  it('answers revoked at once after a revoke returns, in the process that made it and in one reading Redis', async () => {
    const agent = await register(a, 'revoked');
    for (const app of [a, b, a, b]) {
      expect((await app.registry.get(agent.name)).state).toBe('active');
      expect(await app.verifier.verify({ pem: agent.pem }, 'test')).toMatchObject({ verified: true });
    }
    await a.registry.revoke({ agentName: agent.name, reason: 'keyCompromise' }, 'test');
    for (const app of [a, b]) {
      expect((await app.registry.get(agent.name)).state).toBe('revoked');
      expect(await app.verifier.verify({ pem: agent.pem }, 'test')).toMatchObject({ verified: false, reason: 'revoked' });
    }
  });

  it('refuses a superseded certificate at once after a rotation returns, on either side', async () => {
    const agent = await register(b, 'rotated');
    for (const app of [a, b, a, b]) expect(await app.verifier.verify({ pem: agent.pem }, 'test')).toMatchObject({ verified: true });
    const rotated = await a.registry.rotate({ agentName: agent.name }, 'test');
    for (const app of [a, b]) {
      expect(await app.verifier.verify({ pem: agent.pem }, 'test')).toMatchObject({ verified: false, reason: 'superseded' });
      expect(await app.verifier.verify({ pem: rotated.certPem }, 'test')).toMatchObject({ verified: true });
    }
  });

  it('drops what another process holds in memory when the change is announced', async () => {
    // Kept in memory for a minute, so only the announcement can bring it up to date within a second.
    const holder = await open({ cacheLocalTtlMs: 60_000 });
    const agent = await register(b, 'announced');
    for (let i = 0; i < 2; i++) {
      expect((await holder.registry.get(agent.name)).state).toBe('active');
      expect(await holder.verifier.verify({ pem: agent.pem }, 'test')).toMatchObject({ verified: true });
    }
    await b.registry.revoke({ agentName: agent.name, reason: 'keyCompromise' }, 'test');
    const revokedAt = Date.now();
    await vi.waitFor(
      async () => {
        expect((await holder.registry.get(agent.name)).state).toBe('revoked');
        expect(await holder.verifier.verify({ pem: agent.pem }, 'test')).toMatchObject({ verified: false, reason: 'revoked' });
      },
      { timeout: 3_000, interval: 5 },
    );
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
  });

  it('never uses what a lookup that raced a change wrote to Redis after the change', async () => {
    const agent = await register(a, 'raced');
    // A lookup whose database answer is held until the revoke below has returned: it read the version, then the
    // database (active), and writes Redis after the revoke gave the agent a new version.
    const database = await openDatabase(registries.environment.config.databaseUrl);
    const sql = await SqlRegistryStore.open(database);
    let readDatabase!: () => void;
    const databaseRead = new Promise<void>((resolve) => (readDatabase = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const held = heldFindAgent(sql, async () => {
      readDatabase();
      await released;
    });
    const client = createCommandClient(redisUrl);
    const racer = new CachedRegistryStore(held, { redis: client, prefix: `atr:${registries.trustDomain}:`, ttlSeconds: 300, localTtlMs: 0 });
    const probe = new Redis(redisUrl);
    try {
      await vi.waitFor(() => expect(racer.stats().redis?.serving).toBe(true), { timeout: 5_000, interval: 20 });
      const racing = racer.findAgent(agent.name);
      await databaseRead;
      await a.registry.revoke({ agentName: agent.name, reason: 'keyCompromise' }, 'test');
      release();
      // It began before the revoke returned, so its answer may be the old one.
      expect((await racing)?.state).toBe('active');
      await client.ping();
      const stored = await probe.get(`atr:${registries.trustDomain}:cache:1:{${agent.name}}:agent`);
      expect(stored).toContain('"state":"active"');

      for (const store of [b.store, a.store, racer]) expect((await store.findAgent(agent.name))?.state).toBe('revoked');
    } finally {
      probe.disconnect();
      await racer.close();
      client.disconnect();
    }
  });

  it('leaves nothing stale behind when readers race a writer on one agent', async () => {
    const agent = await register(a, 'contended');
    const readers = [a, b].flatMap((app) => [app.store, app.store, app.store]);
    let writing = true;
    const read = async (store: RegistryStore) => {
      let reads = 0;
      while (writing) {
        await store.findAgent(agent.name);
        await store.findCertificate(agent.fingerprint);
        reads++;
        // Answers from memory resolve at once; without this the readers would never let the writer's I/O run.
        await new Promise(setImmediate);
      }
      return reads;
    };
    const reading = Promise.all(readers.map(read));
    let last: AgentRecord | undefined;
    for (let i = 0; i < 15; i++) {
      last = (await a.registry.update({ agentName: agent.name, description: `change ${i}` }, 'test')).agent;
    }
    writing = false;
    expect(Math.min(...(await reading))).toBeGreaterThan(0);
    // The writer's own process and the one reading Redis, at once.
    for (const app of [a, b]) {
      expect(await app.store.findAgent(agent.name)).toMatchObject({ version: last!.version, description: 'change 14' });
      expect((await app.store.findCertificate(agent.fingerprint))?.agent).toMatchObject({ version: last!.version });
    }
    await a.registry.revoke({ agentName: agent.name }, 'test');
    for (const app of [a, b]) expect(await app.store.findAgent(agent.name)).toMatchObject({ state: 'revoked' });
  });
});

describe.each(dialects)('the lookup cache on %s when one process cannot reach Redis', (dialect) => {
  let registries: Awaited<ReturnType<typeof deployment>>;
  let open: (overrides?: Partial<Config>) => Promise<App>;
  let proxy: TcpProxy;
  /** Reaches Redis through a proxy the tests cut; the other registries reach it directly. */
  let cutOff: App;

  beforeAll(async () => {
    registries = await deployment(dialect, 'cut');
    open = registries.open;
    proxy = await tcpProxy(new URL(redisUrl));
    cutOff = await open({ redisUrl: proxy.url });
  });
  afterAll(async () => {
    await registries?.close();
    await proxy?.close();
  });

  const cut = async () => {
    proxy.cut();
    await vi.waitFor(() => expect(cutOff.cache?.stats().redis?.serving).toBe(false), { timeout: 5_000, interval: 10 });
  };

  it('sends the invalidations it could not send once Redis is back, and reads the database meanwhile', async () => {
    // Only the cut-off process's invalidation can retire what `reader` holds: its revocation feed reads the
    // database once a minute, no announcement reaches it, and no other registry reads this database.
    const reader = await open({ cacheLocalTtlMs: 0, revocationPollMs: 60_000 });
    const agent = await register(cutOff, 'unsent');
    for (let i = 0; i < 2; i++) expect((await reader.registry.get(agent.name)).state).toBe('active');

    await cut();
    await cutOff.registry.revoke({ agentName: agent.name, reason: 'keyCompromise' }, 'test');
    expect(cutOff.cache?.stats().redis?.pendingInvalidations).toBe(1);
    expect((await cutOff.registry.get(agent.name)).state).toBe('revoked');
    // The documented bound: until the invalidation is sent, or a revocation feed reads the revoke from the
    // database, an entry cached before stays in use.
    expect((await reader.registry.get(agent.name)).state).toBe('active');

    proxy.restore();
    await vi.waitFor(() => expect(cutOff.cache?.stats().redis).toMatchObject({ serving: true, pendingInvalidations: 0 }), {
      timeout: 15_000,
      interval: 20,
    });
    expect((await reader.registry.get(agent.name)).state).toBe('revoked');
    expect((await cutOff.registry.get(agent.name)).state).toBe('revoked');
  });

  it('is covered within a second by the revocation feed of every process that can reach it', async () => {
    const reader = await open({ cacheLocalTtlMs: 0 });
    const agent = await register(cutOff, 'polled');
    for (let i = 0; i < 2; i++) expect((await reader.registry.get(agent.name)).state).toBe('active');

    await cut();
    try {
      await cutOff.registry.revoke({ agentName: agent.name, reason: 'keyCompromise' }, 'test');
      const revokedAt = Date.now();
      await vi.waitFor(async () => expect((await reader.registry.get(agent.name)).state).toBe('revoked'), { timeout: 3_000, interval: 10 });
      expect(Date.now() - revokedAt).toBeLessThan(1_000);
    } finally {
      proxy.restore();
    }
  });
});

/** The store, with each findAgent answer held (after the database answered) until `hold` resolves. */
function heldFindAgent(store: SqlRegistryStore, hold: () => Promise<void>): RegistryStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'findAgent') {
        return async (name: string) => {
          const agent = await target.findAgent(name);
          await hold();
          return agent;
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
