// GetCallerAccess (GET /v1/access) reports what each kind of caller may do, and agrees with what the server then
// allows: every permission it reports is a call that succeeds, every one it leaves out is refused.
import { readFileSync } from 'node:fs';
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyRole } from '../../gen/atr/v1/api_key_pb.js';
import { type RegistryClient, createRegistryClient } from '../../src/sdk/client.ts';
import { rpcError } from '../support/rpc.ts';
import { runningServer } from '../support/server.ts';

describe.each([
  { publicReads: true, anonymous: ['public_read'] },
  { publicReads: false, anonymous: [] },
])('GetCallerAccess with keys on, PUBLIC_READS=$publicReads', ({ publicReads, anonymous }) => {
  let base: string;
  let admin: RegistryClient;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const started = await runningServer('sqlite', { apiKeyEnabled: true, publicReads, mtlsEnabled: false });
    base = started.server.url;
    cleanup = started.cleanup;
    admin = createRegistryClient({ baseUrl: base, apiKey: readFileSync(started.environment.config.adminKeyFile, 'utf8').trim() });
  });
  afterAll(() => cleanup());

  const keyed = async (role: ApiKeyRole, owner = '') => {
    const created = await admin.keys.createApiKey({ role, owner, description: 'access test' });
    return { id: created.key!.keyId, client: createRegistryClient({ baseUrl: base, apiKey: created.secret }) };
  };

  it('tells an anonymous caller what it may do, even when it may read nothing else', async () => {
    const caller = createRegistryClient({ baseUrl: base });
    const access = await caller.keys.getCallerAccess({});
    expect(access).toMatchObject({ principal: 'anonymous', keysRequired: true, publicReads, permissions: anonymous });
    expect(access.apiKey).toBeUndefined();
    const resolve = caller.resolve.resolveAgent({ agentName: 'nobody.example' });
    if (publicReads) expect((await rpcError(resolve)).code).toBe(Code.NotFound);
    else expect((await rpcError(resolve)).code).toBe(Code.Unauthenticated);
  });

  it('names the key, its role and owner, and only the permissions the server grants it', async () => {
    const reader = await keyed(ApiKeyRole.READER);
    const owner = await keyed(ApiKeyRole.OWNER, 'team-a');
    expect(await reader.client.keys.getCallerAccess({})).toMatchObject({
      principal: `key:${reader.id}`,
      apiKey: { keyId: reader.id, role: ApiKeyRole.READER },
      permissions: ['public_read', 'read'],
    });
    expect(await owner.client.keys.getCallerAccess({})).toMatchObject({
      principal: `key:${owner.id}`,
      apiKey: { keyId: owner.id, role: ApiKeyRole.OWNER, owner: 'team-a' },
      permissions: ['public_read', 'read', 'write_own'],
    });
    expect((await admin.keys.getCallerAccess({})).permissions).toEqual(['public_read', 'read', 'write', 'manage_keys']);
    // What was reported is what holds.
    expect((await rpcError(reader.client.registry.registerAgent({ agentName: 'r.example', owner: 'team-a' }))).code).toBe(Code.PermissionDenied);
    expect((await rpcError(owner.client.keys.listApiKeys({}))).code).toBe(Code.PermissionDenied);
    await owner.client.registry.registerAgent({ agentName: `own-${publicReads}.example`, owner: 'team-a' });
    expect((await rpcError(owner.client.registry.registerAgent({ agentName: `theirs-${publicReads}.example`, owner: 'team-b' }))).code).toBe(Code.PermissionDenied);
  });

  it('refuses a wrong key rather than answering as anonymous', async () => {
    const wrong = createRegistryClient({ baseUrl: base, apiKey: `atr_${'0'.repeat(16)}_${'0'.repeat(64)}` });
    expect((await rpcError(wrong.keys.getCallerAccess({}))).code).toBe(Code.Unauthenticated);
  });

  it('is served at GET /v1/access', async () => {
    const response = await fetch(`${base}/v1/access`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ principal: 'anonymous', api_key: null, keys_required: true, public_reads: publicReads, permissions: anonymous });
  });
});

describe('GetCallerAccess with keys off', () => {
  it('grants an anonymous caller everything, as the server does', async () => {
    const started = await runningServer('sqlite', { apiKeyEnabled: false, mtlsEnabled: false });
    try {
      const access = await createRegistryClient({ baseUrl: started.server.url }).keys.getCallerAccess({});
      expect(access).toMatchObject({ principal: 'anonymous', keysRequired: false, permissions: ['public_read', 'read', 'write', 'manage_keys'] });
    } finally {
      await started.cleanup();
    }
  });
});
