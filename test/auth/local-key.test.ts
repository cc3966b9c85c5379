import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyRole } from '../../gen/atr/v1/api_key_pb.js';
import { createRegistryClient } from '../../src/sdk/client.ts';
import { startServer } from '../../src/server/server.ts';
import { runAtr } from '../support/cli.ts';
import { dialects } from '../support/databases.ts';
import { type TestEnvironment, testEnvironment } from '../support/server.ts';

const secretOf = (stdout: string) => /^secret:\s+(atr_\S+)$/m.exec(stdout)?.[1] ?? '';

describe.each(dialects)('atr keys create --local on %s', (dialect) => {
  let environment: TestEnvironment;
  let cwd: string;

  beforeAll(async () => {
    environment = await testEnvironment(dialect, { apiKeyEnabled: true });
    cwd = mkdtempSync(join(tmpdir(), 'atr-local-key-'));
  });
  afterAll(async () => {
    await environment.cleanup();
    rmSync(cwd, { recursive: true, force: true });
  });

  const local = (args: string[], env: Record<string, string>) => runAtr(['keys', 'create', '--local', ...args], cwd, env);

  it('makes an admin key in the database of a running server, without a key, that works there at once and is audited as local; refuses a bad request with its rule', async () => {
    const server = await startServer(environment.config);
    try {
      const made = await local(['--role', 'admin', '--description', 'recovery'], { DATABASE_URL: environment.config.databaseUrl });
      expect(made.code, made.stderr).toBe(0);
      const key = secretOf(made.stdout);
      expect(key).toMatch(/^atr_[0-9a-f]{16}_[0-9a-f]{64}$/);
      expect(made.stdout).toMatch(new RegExp(`created by:\\s+local:${userInfo().username}`));

      const admin = createRegistryClient({ baseUrl: server.url, apiKey: key });
      const listed = await admin.keys.listApiKeys({});
      expect(listed.apiKeys.find((k) => k.keyId === key.split('_')[1])).toMatchObject({ role: ApiKeyRole.ADMIN, description: 'recovery' });
      const audit = await admin.registry.listAuditEvents({});
      const created = audit.events.find((event) => event.eventType === 'key.created' && event.metadata?.['key_id'] === key.split('_')[1]);
      expect(created?.actor).toBe(`local:${userInfo().username}`);

      const bad = await local(['--role', 'owner'], { DATABASE_URL: environment.config.databaseUrl });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('owner: is required for an owner key');
    } finally {
      await server.close();
    }
  });

  it('reads DATABASE_URL from .env like the server, and works with the server stopped', async () => {
    writeFileSync(join(cwd, '.env'), `DATABASE_URL=${environment.config.databaseUrl}\n`);
    try {
      const made = await local(['--role', 'admin', '--json'], {});
      expect(made.code, made.stderr).toBe(0);
      const key = (JSON.parse(made.stdout) as { secret: string }).secret;
      const server = await startServer(environment.config);
      try {
        expect((await createRegistryClient({ baseUrl: server.url, apiKey: key }).keys.listApiKeys({})).apiKeys.length).toBeGreaterThanOrEqual(3);
      } finally {
        await server.close();
      }
    } finally {
      rmSync(join(cwd, '.env'));
    }
  });

  it('is refused, saying why, when the database cannot be opened', async () => {
    const missing = await local(['--role', 'admin'], { DATABASE_URL: `sqlite:///${join(cwd, 'nowhere', 'atr.db')}` });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`no registry database at ${join(cwd, 'nowhere', 'atr.db')} (DATABASE_URL)`);
    const unreachable = await local(['--role', 'admin'], { DATABASE_URL: 'postgresql://atr:hunter2@127.0.0.1:1/atr' });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain("cannot open the registry's database at postgresql://atr:***@127.0.0.1:1/atr (DATABASE_URL)");
    expect(unreachable.stderr).not.toContain('hunter2');
  });
});
