import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAtr } from '../support/cli.ts';
import { runningServer } from '../support/server.ts';

describe('atr keys, against a registry with API keys on', () => {
  let url: string;
  let adminKeyFile: string;
  let cwd: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const started = await runningServer('sqlite', { apiKeyEnabled: true });
    url = started.server.url;
    adminKeyFile = started.environment.config.adminKeyFile;
    cleanup = started.cleanup;
    cwd = mkdtempSync(join(tmpdir(), 'atr-cli-keys-'));
  });
  afterAll(async () => {
    await cleanup();
    rmSync(cwd, { recursive: true, force: true });
  });

  const atr = (args: string[], env: Record<string, string> = {}) =>
    runAtr([...args, '--server', url], cwd, { KEYS_ROOT_DIR: join(cwd, 'keys'), ...env });

  it('creates, lists and revokes keys with the bootstrap admin key, and registers with an owner key', async () => {
    const anonymous = await atr(['keys', 'list'], { ADMIN_KEY_FILE: join(cwd, 'none.key') });
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain('needs an API key');

    const admin = { ADMIN_KEY_FILE: adminKeyFile };
    const created = await atr(['keys', 'create', '--role', 'owner', '--owner', 'acme', '--description', 'acme ci'], admin);
    expect(created.code, created.stderr).toBe(0);
    const key = /^secret:\s+(atr_\S+)$/m.exec(created.stdout)?.[1] ?? '';
    const keyId = key.split('_')[1] ?? '';
    expect(key).toMatch(/^atr_[0-9a-f]{16}_[0-9a-f]{64}$/);
    expect(created.stdout).toContain('cannot show it again');

    const listed = await atr(['keys', 'list'], admin);
    expect(listed.stdout).toMatch(new RegExp(`${keyId}\\s+owner\\s+acme`));
    expect(listed.stdout).not.toContain(key);

    const registered = await atr(['agents', 'register', 'build.acme.example'], { ATR_API_KEY: key });
    expect(registered.code, registered.stderr).toBe(0);
    expect(registered.stdout).toMatch(/owner:\s+acme/);
    const refused = await atr(['agents', 'register', 'build.globex.example', '--owner', 'globex', '--server-keygen'], { ATR_API_KEY: key });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('permission_denied');

    const revoked = await atr(['keys', 'revoke', keyId], admin);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(/revoked:\s+\d{4}-/);
    const after = await atr(['agents', 'list', '--api-key', key]);
    expect(after.code).toBe(1);
    expect(after.stderr).toContain('unauthenticated');
  });

  it('uses ./var/admin.key when no key is given', async () => {
    mkdirSync(join(cwd, 'var'), { recursive: true });
    copyFileSync(adminKeyFile, join(cwd, 'var', 'admin.key'));
    const listed = await atr(['keys', 'list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject({ api_keys: expect.arrayContaining([expect.objectContaining({ created_by: 'bootstrap' })]) });
    const usage = await atr(['keys', 'create']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--role is required');
  });
});
