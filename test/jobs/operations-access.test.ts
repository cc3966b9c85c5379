// Asynchronous operations under API keys: an owner key is held to its own agents when a change is accepted and
// again when a worker records it; any key that may read agents may read operations; no key, no operation.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyRole } from '../../gen/atr/v1/api_key_pb.js';
import { AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import { OperationState } from '../../gen/atr/v1/operation_pb.js';
import { createRegistryClient, type RegistryClient } from '../../src/sdk/client.ts';
import { rpcError } from '../support/rpc.ts';
import { runningServer } from '../support/server.ts';

describe('operations under API keys', () => {
  let url: string;
  let admin: RegistryClient;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const started = await runningServer('sqlite', { apiKeyEnabled: true, asyncProcessingEnabled: true, jobsPollMs: 50, redisEnabled: false });
    url = started.server.url;
    admin = createRegistryClient({ baseUrl: url, apiKey: readFileSync(started.environment.config.adminKeyFile, 'utf8').trim() });
    cleanup = started.cleanup;
  });
  afterAll(() => cleanup());

  const clientFor = async (role: ApiKeyRole, owner = '') =>
    createRegistryClient({ baseUrl: url, apiKey: (await admin.keys.createApiKey({ role, owner, description: `${owner} operations` })).secret });
  async function settled(client: RegistryClient, operationId: string) {
    for (let i = 0; i < 200; i += 1) {
      const { operation } = await client.operations.getOperation({ operationId });
      if (operation?.state !== OperationState.PENDING) return operation!;
      await sleep(50);
    }
    throw new Error(`operation ${operationId} still pending`);
  }

  it('holds an owner key to its own owner, when accepting and when reading', async () => {
    const alice = await clientFor(ApiKeyRole.OWNER, 'alice');
    const bob = await clientFor(ApiKeyRole.OWNER, 'bob');
    const reader = await clientFor(ApiKeyRole.READER);

    const accepted = await alice.registry.registerAgent({ agentName: 'keys.async.example' });
    expect(accepted.agent?.owner).toBe('alice');
    expect(accepted.agent?.status).toBe(AgentStatus.PENDING);
    const done = await settled(reader, accepted.operationId);
    expect(done.state).toBe(OperationState.SUCCEEDED);

    // Another owner's key can neither register under alice nor rotate her agent, not even in the background.
    expect((await rpcError(bob.registry.registerAgent({ agentName: 'other.async.example', owner: 'alice' }))).code).toBe(Code.PermissionDenied);
    expect((await rpcError(bob.registry.rotateCertificate({ agentName: 'keys.async.example' }))).code).toBe(Code.PermissionDenied);
    // A reader key may read but not change.
    expect((await rpcError(reader.registry.rotateCertificate({ agentName: 'keys.async.example' }))).code).toBe(Code.PermissionDenied);
    // No key: no operation.
    const anonymous = createRegistryClient({ baseUrl: url });
    expect((await rpcError(anonymous.operations.getOperation({ operationId: accepted.operationId }))).code).toBe(Code.Unauthenticated);

    const rotated = await alice.registry.rotateCertificate({ agentName: 'keys.async.example' });
    expect(rotated.operationId).not.toBe('');
    expect((await settled(alice, rotated.operationId)).state).toBe(OperationState.SUCCEEDED);
    const audit = await admin.registry.listAuditEvents({ agentName: 'keys.async.example', eventType: 'agent.rotated' });
    expect(audit.events).toHaveLength(1);
    expect(audit.events[0]?.actor).toMatch(/^key:/);
  });
});
