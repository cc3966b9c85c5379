import { readFileSync, statSync } from 'node:fs';
import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyRole } from '../../gen/atr/v1/api_key_pb.js';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ApiKeys } from '../../src/auth/api-keys.ts';
import { prepareAccess } from '../../src/auth/bootstrap.ts';
import { configWith, loadConfig } from '../../src/config/load.ts';
import { SqlApiKeyStore } from '../../src/db/api-key-store.ts';
import { openDatabase } from '../../src/db/orm.ts';
import { type RegistryClient, createRegistryClient } from '../../src/sdk/client.ts';
import { dialects } from '../support/databases.ts';
import { keyAndCsr } from '../support/keys.ts';
import { rpcError } from '../support/rpc.ts';
import { runningServer, testEnvironment } from '../support/server.ts';

type Json = Record<string, unknown>;

describe.each(dialects)('API keys and roles on %s', (dialect) => {
  let base: string;
  let adminKey: string;
  let adminKeyFile: string;
  let cleanup: () => Promise<void>;
  let admin: RegistryClient;
  let anonymous: RegistryClient;
  let counts: () => Promise<{ agents: number; audit: number; leaves: bigint }>;

  beforeAll(async () => {
    const started = await runningServer(dialect, { apiKeyEnabled: true });
    base = started.server.url;
    cleanup = started.cleanup;
    adminKeyFile = started.environment.config.adminKeyFile;
    adminKey = readFileSync(adminKeyFile, 'utf8').trim();
    admin = createRegistryClient({ baseUrl: base, apiKey: adminKey });
    anonymous = createRegistryClient({ baseUrl: base });
    const { app } = started.server;
    counts = async () => ({
      agents: (await app.store.listAgents({}, { limit: 1 }, new Date())).total,
      audit: (await app.store.listAuditEvents({}, { limit: 1 })).total,
      leaves: (await admin.log.publishCheckpoint({})).treeSize,
    });
  });
  afterAll(() => cleanup());

  const call = async (method: string, path: string, headers: Record<string, string> = {}, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text.startsWith('{') ? JSON.parse(text) : text) as Json };
  };
  const keyOf = async (role: ApiKeyRole, owner = '') => (await admin.keys.createApiKey({ role, owner, description: `${owner} test` })).secret;
  const clientWith = (apiKey: string) => createRegistryClient({ baseUrl: base, apiKey });

  it('writes a bootstrap admin key, 0600, on the first start with keys on', () => {
    expect(adminKey).toMatch(/^atr_[0-9a-f]{16}_[0-9a-f]{64}$/);
    expect(statSync(adminKeyFile).mode & 0o777).toBe(0o600);
  });

  it('refuses anonymous writes and administrative reads, and keeps public reads open', async () => {
    const refused = await rpcError(anonymous.registry.registerAgent({ agentName: 'anon.keys.example', owner: 'x' }));
    expect(refused.code).toBe(Code.Unauthenticated);
    expect((await rpcError(anonymous.registry.listAgents({}))).code).toBe(Code.Unauthenticated);
    expect((await rpcError(anonymous.keys.listApiKeys({}))).code).toBe(Code.Unauthenticated);
    const rest = await call('POST', '/v1/agents', {}, { agent_name: 'anon.keys.example', owner: 'x' });
    expect(rest.status).toBe(401);
    expect(rest.body).toMatchObject({ code: 'unauthenticated' });

    await admin.registry.registerAgent({ agentName: 'public.keys.example', owner: 'ops' });
    expect((await anonymous.resolve.resolveAgent({ agentName: 'public.keys.example' })).agentName).toBe('public.keys.example');
    expect((await call('GET', '/v1/resolve/public.keys.example')).status).toBe(200);
    expect((await call('GET', '/v1/crl')).status).toBe(200);
    expect((await anonymous.log.getCheckpoint({})).checkpoint).toBeDefined();
  });

  it('accepts a key in X-API-Key and as Authorization: Bearer, and refuses a bad or malformed one', async () => {
    expect((await call('GET', '/v1/agents', { 'x-api-key': adminKey })).status).toBe(200);
    expect((await call('GET', '/v1/agents', { authorization: `Bearer ${adminKey}` })).status).toBe(200);
    const wrongSecret = `${adminKey.slice(0, -1)}${adminKey.endsWith('0') ? '1' : '0'}`;
    for (const bad of [wrongSecret, 'atr_0000000000000000_' + '0'.repeat(64), 'not-a-key', adminKey.toUpperCase()]) {
      const response = await call('GET', '/v1/agents', { 'x-api-key': bad });
      expect(response.status, bad).toBe(401);
      expect(JSON.stringify(response.body)).not.toContain(bad);
    }
    // A wrong key is refused even on a public read: a misconfigured client learns at once.
    expect((await call('GET', '/v1/resolve/public.keys.example', { 'x-api-key': wrongSecret })).status).toBe(401);
  });

  it('creates, lists and revokes keys; a revoked key stops working on the next request', async () => {
    const created = await admin.keys.createApiKey({ role: ApiKeyRole.READER, description: 'dashboards' });
    const reader = clientWith(created.secret);
    expect((await reader.registry.listAgents({})).total).toBeGreaterThan(0);
    const listed = await admin.keys.listApiKeys({});
    const entry = listed.apiKeys.find((key) => key.keyId === created.key?.keyId);
    expect(entry).toMatchObject({ role: ApiKeyRole.READER, description: 'dashboards' });
    const restList = await call('GET', '/v1/keys?include_revoked=true', { 'x-api-key': adminKey });
    expect(JSON.stringify(restList.body)).toContain(created.key?.keyId);
    expect(JSON.stringify(restList.body)).not.toContain(created.secret.split('_')[2]);

    await admin.keys.revokeApiKey({ keyId: created.key?.keyId ?? '' });
    expect((await rpcError(reader.registry.listAgents({}))).code).toBe(Code.Unauthenticated);
    expect((await admin.keys.listApiKeys({})).apiKeys.map((key) => key.keyId)).not.toContain(created.key?.keyId);
    const all = await admin.keys.listApiKeys({ includeRevoked: true });
    expect(all.apiKeys.find((key) => key.keyId === created.key?.keyId)?.revokedAt).toBeDefined();

    const rest = await call('POST', '/v1/keys', { 'x-api-key': adminKey }, { role: 'owner', owner: 'rest-team' });
    expect(rest.status).toBe(201);
    expect(rest.body).toMatchObject({ key: { role: 'owner', owner: 'rest-team' }, secret: expect.stringMatching(/^atr_/) });
    const keyId = (rest.body['key'] as Json)['key_id'] as string;
    const revoked = await call('DELETE', `/v1/keys/${keyId}`, { 'x-api-key': adminKey });
    expect(revoked.status).toBe(200);
    expect(revoked.body['revoked_at']).toBeTruthy();
    expect((await call('GET', '/v1/agents', { 'x-api-key': rest.body['secret'] as string })).status).toBe(401);
  });

  it('refuses bad key requests with the rule that failed', async () => {
    const cases: [Parameters<RegistryClient['keys']['createApiKey']>[0], string][] = [
      [{ role: ApiKeyRole.UNSPECIFIED }, 'role:'],
      [{ role: ApiKeyRole.OWNER }, 'owner: is required'],
      [{ role: ApiKeyRole.ADMIN, owner: 'acme' }, 'owner: is only for owner keys'],
      [{ role: ApiKeyRole.OWNER, owner: 'bad\nowner' }, 'owner:'],
    ];
    for (const [request, rule] of cases) {
      const error = await rpcError(admin.keys.createApiKey(request));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toContain(rule);
    }
    expect((await rpcError(admin.keys.revokeApiKey({ keyId: 'nope' }))).code).toBe(Code.InvalidArgument);
    expect((await rpcError(admin.keys.revokeApiKey({ keyId: '0123456789abcdef' }))).code).toBe(Code.NotFound);
  });

  it('lets a reader read and nothing more', async () => {
    const reader = clientWith(await keyOf(ApiKeyRole.READER));
    expect((await reader.registry.getAgent({ agentName: 'public.keys.example' })).agent?.owner).toBe('ops');
    expect((await reader.registry.listAuditEvents({})).total).toBeGreaterThan(0);
    for (const refused of [
      () => reader.registry.registerAgent({ agentName: 'reader.keys.example', owner: 'ops' }),
      () => reader.registry.revokeAgent({ agentName: 'public.keys.example' }),
      () => reader.keys.listApiKeys({}),
      () => reader.log.publishCheckpoint({}),
    ]) {
      expect((await rpcError(refused())).code).toBe(Code.PermissionDenied);
    }
    expect((await admin.registry.getAgent({ agentName: 'public.keys.example' })).agent?.status).toBe(1);
  });

  it('confines an owner key to its own owner, across register, rotate, revoke and update', async () => {
    const acme = clientWith(await keyOf(ApiKeyRole.OWNER, 'acme'));
    const own = await acme.registry.registerAgent({ agentName: 'mine.acme.example' });
    expect(own.agent?.owner).toBe('acme');
    expect((await acme.registry.registerAgent({ agentName: 'named.acme.example', owner: 'acme' })).agent?.owner).toBe('acme');
    await admin.registry.registerAgent({ agentName: 'theirs.globex.example', owner: 'globex' });

    const before = await counts();
    const theirs = (await admin.registry.getAgent({ agentName: 'theirs.globex.example' })).agent;
    const { csrPem } = await keyAndCsr();
    const refusals = [
      () => acme.registry.registerAgent({ agentName: 'spoof.globex.example', owner: 'globex' }),
      () => acme.registry.rotateCertificate({ agentName: 'theirs.globex.example', csrPem }),
      () => acme.registry.revokeAgent({ agentName: 'theirs.globex.example', reason: 'keyCompromise' }),
      () => acme.registry.updateAgent({ agentName: 'theirs.globex.example', description: 'hijacked' }),
    ];
    for (const refusal of refusals) {
      const error = await rpcError(refusal());
      expect(error.code).toBe(Code.PermissionDenied);
      expect(error.rawMessage).toMatch(/owner/);
    }
    const after = await admin.registry.getAgent({ agentName: 'theirs.globex.example' });
    expect(after.agent).toEqual(theirs);
    expect((await rpcError(admin.registry.getAgent({ agentName: 'spoof.globex.example' }))).code).toBe(Code.NotFound);
    const now = await counts();
    expect(now.agents).toBe(before.agents);
    expect(now.leaves).toBe(before.leaves);
    // Nothing was written but the four refusals' own audit events (written after the answer, so polled).
    await expect.poll(async () => (await counts()).audit - before.audit).toBe(4);
    const denied = await admin.registry.listAuditEvents({ limit: 4 });
    expect(denied.events.map((event) => event.eventType)).toEqual(Array(4).fill('auth.denied'));

    const rotated = await acme.registry.rotateCertificate({ agentName: 'mine.acme.example', csrPem });
    expect(rotated.agent?.version).toBe(2);
    expect((await acme.registry.updateAgent({ agentName: 'mine.acme.example', description: 'ours' })).agent?.description).toBe('ours');
    expect((await acme.registry.revokeAgent({ agentName: 'mine.acme.example', reason: 'cessationOfOperation' })).agent?.status).toBe(2);
    // REST says the same: 403 with the domain code.
    const rest = await call('POST', '/v1/agents/theirs.globex.example/revoke', { authorization: `Bearer ${(await keyOf(ApiKeyRole.OWNER, 'acme'))}` }, {});
    expect(rest.status).toBe(403);
    expect(rest.body).toMatchObject({ code: 'permission_denied' });
  });

  it('audits refusals with the principal, the method and the client address', async () => {
    const reader = await keyOf(ApiKeyRole.READER);
    const keyId = reader.split('_')[1];
    await rpcError(clientWith(reader).registry.revokeAgent({ agentName: 'public.keys.example' }));
    const events = (await admin.registry.listAuditEvents({ eventType: 'auth.denied', limit: 100 })).events;
    const byReader = events.find((event) => event.actor === `key:${keyId}`);
    expect(byReader?.metadata).toMatchObject({
      reason: 'permission_denied',
      method: 'atr.v1.RegistryService/RevokeAgent',
      client_address: expect.stringMatching(/127\.0\.0\.1/),
    });
    expect(byReader?.agentName).toBe('public.keys.example');
    // The anonymous refusals of the first test: one event per caller, reason and method a minute, so a flood of
    // refusals cannot fill the audit trail.
    const anonymousRefusals = events.filter((event) => event.actor.startsWith('anonymous@') && event.metadata?.['method'] === 'atr.v1.RegistryService/RegisterAgent');
    expect(anonymousRefusals).toHaveLength(1);
    expect(anonymousRefusals[0]?.metadata).toMatchObject({ reason: 'unauthenticated', client_address: expect.stringMatching(/127\.0\.0\.1/) });
    // Key management is audited too, and names who did it.
    const created = (await admin.registry.listAuditEvents({ eventType: 'key.created', limit: 100 })).events;
    expect(created.find((event) => event.metadata?.['key_id'] === keyId)?.actor).toBe(`key:${adminKey.split('_')[1]}`);
  });

  it('records the key as the actor of the changes it makes', async () => {
    const ops = await keyOf(ApiKeyRole.OWNER, 'ops');
    await clientWith(ops).registry.registerAgent({ agentName: 'actor.ops.example' });
    const events = await admin.registry.listAuditEvents({ agentName: 'actor.ops.example' });
    expect(events.events[0]?.actor).toBe(`key:${ops.split('_')[1]}`);
  });
});

describe.each(dialects)('API key settings on %s', (dialect) => {
  it('with PUBLIC_READS=false, needs a key for resolve, the CRL, the log and the OpenAPI document, but not for /healthz', async () => {
    const { server, environment, cleanup } = await runningServer(dialect, { apiKeyEnabled: true, publicReads: false, apiKeyHeader: 'x-registry-key' });
    try {
      const key = readFileSync(environment.config.adminKeyFile, 'utf8').trim();
      const anonymous = createRegistryClient({ baseUrl: server.url });
      expect((await rpcError(anonymous.resolve.resolveAgent({ agentName: 'x.example' }))).code).toBe(Code.Unauthenticated);
      for (const path of ['/v1/crl', '/v1/trust-bundle', '/log/checkpoint', '/openapi.json']) {
        expect((await fetch(`${server.url}${path}`)).status, path).toBe(401);
        expect((await fetch(`${server.url}${path}`, { headers: { 'x-registry-key': key } })).status, path).toBe(200);
      }
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      // The configured header replaces X-API-Key; Bearer always works.
      expect((await fetch(`${server.url}/v1/agents`, { headers: { 'x-registry-key': key } })).status).toBe(200);
      expect((await fetch(`${server.url}/v1/agents`, { headers: { 'x-api-key': key } })).status).toBe(401);
      expect((await fetch(`${server.url}/v1/agents`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    } finally {
      await cleanup();
    }
  });

  it('with keys off (the local default), lets anonymous callers do everything but still checks a presented key', async () => {
    const { server, cleanup } = await runningServer(dialect);
    try {
      const transport = createConnectTransport({ baseUrl: server.url, httpVersion: '1.1' });
      const registry = createClient(RegistryService, transport);
      expect((await registry.registerAgent({ agentName: 'open.example', owner: 'dev' })).agent?.owner).toBe('dev');
      const badKey = createRegistryClient({ baseUrl: server.url, apiKey: `atr_${'1'.repeat(16)}_${'2'.repeat(64)}` });
      expect((await rpcError(badKey.registry.listAgents({}))).code).toBe(Code.Unauthenticated);
    } finally {
      await cleanup();
    }
  });

  it('bootstraps exactly one admin key when processes start together, and never again', async () => {
    const environment = await testEnvironment(dialect);
    const databases = await Promise.all([openDatabase(environment.config.databaseUrl), openDatabase(environment.config.databaseUrl)]);
    try {
      const keys = databases.map((database) => new ApiKeys(new SqlApiKeyStore(database)));
      // Two processes on SQLite serialise on its file lock; two connections of one process would deadlock the
      // synchronous driver, so there the race is run on PostgreSQL only.
      const created = dialect === 'postgresql' ? await Promise.all(keys.map((k) => k.bootstrap())) : [await keys[0]?.bootstrap(), await keys[1]?.bootstrap()];
      expect(created.filter((c) => c !== undefined)).toHaveLength(1);
      expect(await keys[0]?.bootstrap()).toBeUndefined();
      const warnings: string[] = [];
      await prepareAccess({ apiKeyEnabled: true, adminKeyFile: `${environment.dir}/again.key` }, keys[1] as ApiKeys, (line) => warnings.push(line));
      expect(warnings).toEqual([]);
    } finally {
      await Promise.all(databases.map((database) => database.close()));
      await environment.cleanup();
    }
  });

  it('says once that keys are off, and never logs a key', async () => {
    const environment = await testEnvironment(dialect);
    const database = await openDatabase(environment.config.databaseUrl);
    try {
      const keys = new ApiKeys(new SqlApiKeyStore(database));
      const warnings: string[] = [];
      await prepareAccess({ apiKeyEnabled: false, adminKeyFile: `${environment.dir}/admin.key` }, keys, (line) => warnings.push(line));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('API_KEY_ENABLED=false');
      warnings.length = 0;
      await prepareAccess({ apiKeyEnabled: true, adminKeyFile: `${environment.dir}/admin.key` }, keys, (line) => warnings.push(line));
      const written = readFileSync(`${environment.dir}/admin.key`, 'utf8').trim();
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(`${environment.dir}/admin.key`);
      expect(warnings[0]).not.toContain(written.split('_')[2]);
    } finally {
      await database.close();
      await environment.cleanup();
    }
  });
});

describe('ATR_ENV', () => {
  it('refuses a production start without API keys', () => {
    expect(() => loadConfig({ ATR_ENV: 'production' }, '/nonexistent/.env')).toThrow(/ATR_ENV=production needs API_KEY_ENABLED=true/);
    expect(loadConfig({ ATR_ENV: 'production', API_KEY_ENABLED: 'true' }, '/nonexistent/.env').environment).toBe('production');
    expect(configWith({}).apiKeyEnabled).toBe(false);
  });
});
