// A revoke on one registry process is enforced by another process's mTLS listener within a second: new
// connections are refused (the state check's cached lookups are invalidated by the revocation feed and Redis, and
// live at most a second) and open ones are closed (the revocation feed reaches every process).
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { dialects } from '../support/databases.ts';
import { healthzOverMtls } from '../support/mtls.ts';
import { type ServerProcess, serverProcessPair } from '../support/server-process.ts';

// Through the database poll alone, and through Redis pub/sub with the poll slowed to a minute (so only Redis can
// deliver in time).
const paths = dialects.flatMap((dialect) => [
  { dialect, via: 'database poll', env: {} },
  { dialect, via: 'Redis', env: { REDIS_URL: 'redis://127.0.0.1:6379', REVOCATION_POLL_MS: '60000' } },
]);

describe.each(paths)('two registry processes on one $dialect database, revocations via $via', ({ dialect, env: extra }) => {
  let a: ServerProcess;
  let b: ServerProcess;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    // Each run its own channel.
    ({ a, b, stop } = await serverProcessPair(dialect, { TRUST_DOMAIN: `two-${Math.random().toString(16).slice(2)}.test`, ...extra }));
  }, 60_000);
  afterAll(() => stop?.());

  it('refuses a revoked agent on the other process within a second, new connections and open ones', async () => {
    const registry = createClient(RegistryService, createConnectTransport({ baseUrl: a.url, httpVersion: '1.1' }));
    const registered = await registry.registerAgent({ agentName: `two.${dialect}.example`, owner: 'o' });
    // Let both processes' feeds and subscriptions settle before measuring.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const tls = { ca: registered.chainPem, cert: registered.certPem, key: registered.privateKeyPem };

    const open = healthzOverMtls(b.mtlsUrl ?? '', tls);
    expect(await open.status).toBe(200);
    const closed = new Promise<number>((resolve) => open.session.once('close', () => resolve(Date.now())));

    const revokedAt = Date.now();
    await registry.revokeAgent({ agentName: `two.${dialect}.example`, reason: 'keyCompromise' });
    // New connections: B's lookups may be cached for up to CACHE_LOCAL_TTL_MS (1 s) unless its feed or Redis tells
    // it sooner; the first refusal must come within a second, and nothing is accepted after it.
    let refusedAfter = Infinity;
    while (Date.now() - revokedAt < 1_500) {
      const fresh = healthzOverMtls(b.mtlsUrl ?? '', tls);
      const status = await fresh.status;
      fresh.session.destroy();
      if (status === 200) expect(refusedAfter, 'accepted after a refusal').toBe(Infinity);
      else refusedAfter = Math.min(refusedAfter, Date.now() - revokedAt);
    }
    expect(refusedAfter).toBeLessThan(1_000);

    const closedAfter = (await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), 3_000))])) - revokedAt;
    open.session.destroy();
    expect(closedAfter).toBeLessThan(1_000);
  });
});
