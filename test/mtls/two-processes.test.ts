// A revoke on one registry process is enforced by another process's mTLS listener within a second: new
// connections are refused at once (the state check reads the shared database) and open ones are closed (the
// revocation feed reaches every process).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { createTestDatabase, dialects, type TestDatabase } from '../support/databases.ts';
import { healthzOverMtls } from '../support/mtls.ts';

const SERVE = join(import.meta.dirname, '..', 'bench', 'serve.ts');

interface Process {
  readonly url: string;
  readonly mtlsUrl: string;
  readonly child: ChildProcess;
}

async function serve(env: NodeJS.ProcessEnv): Promise<Process> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVE], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const started = await new Promise<{ url: string; mtlsUrl: string }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    child.stdout?.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString()) as { url: string; mtlsUrl: string }));
  });
  return { ...started, child };
}


// Through the database poll alone, and through Redis pub/sub with the poll slowed to a minute (so only Redis can
// deliver in time).
const paths = dialects.flatMap((dialect) => [
  { dialect, via: 'database poll', env: {} },
  { dialect, via: 'Redis', env: { REDIS_URL: 'redis://127.0.0.1:6379', REVOCATION_POLL_MS: '60000' } },
]);

describe.each(paths)('two registry processes on one $dialect database, revocations via $via', ({ dialect, env: extra }) => {
  let database: TestDatabase;
  let dir: string;
  let a: Process;
  let b: Process;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    dir = mkdtempSync(join(tmpdir(), 'atr-two-'));
    const env = {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: '0',
      MTLS_PORT: '0',
      DATABASE_URL: database.url,
      PKI_ROOT_DIR: join(dir, 'pki'),
      // Each run its own channel.
      TRUST_DOMAIN: `two-${Math.random().toString(16).slice(2)}.test`,
      ...extra,
    };
    a = await serve(env);
    b = await serve(env);
  }, 60_000);
  afterAll(async () => {
    for (const p of [a, b]) p?.child.kill('SIGTERM');
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a revoked agent on the other process within a second, new connections and open ones', async () => {
    const registry = createClient(RegistryService, createConnectTransport({ baseUrl: a.url, httpVersion: '1.1' }));
    const registered = await registry.registerAgent({ agentName: `two.${dialect}.example`, owner: 'o' });
    // Let both processes' feeds and subscriptions settle before measuring.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const tls = { ca: registered.chainPem, cert: registered.certPem, key: registered.privateKeyPem };

    const open = healthzOverMtls(b.mtlsUrl, tls);
    expect(await open.status).toBe(200);
    const closed = new Promise<number>((resolve) => open.session.once('close', () => resolve(Date.now())));

    const revokedAt = Date.now();
    await registry.revokeAgent({ agentName: `two.${dialect}.example`, reason: 'keyCompromise' });
    const fresh = healthzOverMtls(b.mtlsUrl, tls);
    expect(await fresh.status).not.toBe(200);
    fresh.session.destroy();

    const closedAfter = (await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), 3_000))])) - revokedAt;
    open.session.destroy();
    expect(closedAfter).toBeLessThan(1_000);
  });
});
