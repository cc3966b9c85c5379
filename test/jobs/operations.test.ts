// ASYNC_PROCESSING_ENABLED: registrations and rotations answer at once with an operation, and a worker finishes
// them; the results are what a synchronous call would have made, recorded once.
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Code, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OperationService, OperationState } from '../../gen/atr/v1/operation_pb.js';
import { openDatabase } from '../../src/db/orm.ts';
import { type App, createApp } from '../../src/server/app.ts';
import { dialects } from '../support/databases.ts';
import { keyAndCsr, publicKeyOf, publicKeyOfPrivate } from '../support/keys.ts';
import { rpcError } from '../support/rpc.ts';
import { runningServer } from '../support/server.ts';

type Json = Record<string, any>;

const protoDir = fileURLToPath(new URL('../../proto', import.meta.url));
/** grpc-js clients built from the .proto files alone, as any gRPC stack would. */
function grpcJsClients(address: string) {
  const load = (file: string) =>
    grpc.loadPackageDefinition(protoLoader.loadSync(file, { includeDirs: [protoDir], keepCase: true, longs: String, enums: String, defaults: true })) as any;
  const credentials = grpc.credentials.createInsecure();
  return {
    registry: new (load('atr/v1/registry.proto').atr.v1.RegistryService)(address, credentials) as grpc.Client & Record<string, Function>,
    operations: new (load('atr/v1/operation.proto').atr.v1.OperationService)(address, credentials) as grpc.Client & Record<string, Function>,
  };
}

describe.each(dialects)('asynchronous processing on %s', (dialect) => {
  let url: string;
  let app: App;
  let worker: App | undefined;
  let cleanup: () => Promise<void>;

  // The API process runs no workers, so that a test decides when the operations it accepted are run: then it starts
  // a worker process's app (createApp with WORKERS_ENABLED) on the same database.
  beforeAll(async () => {
    const started = await runningServer(dialect, { asyncProcessingEnabled: true, workersEnabled: false, jobsPollMs: 50 });
    url = started.server.url;
    app = started.server.app;
    cleanup = async () => {
      await worker?.close();
      await started.cleanup();
    };
  });
  afterAll(() => cleanup());

  async function startWorker(): Promise<void> {
    worker ??= await createApp({ ...app.config, workersEnabled: true });
  }
  async function stopWorker(): Promise<void> {
    await worker?.close();
    worker = undefined;
  }

  const post = async (path: string, body: Json) => {
    const response = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as Json };
  };
  const get = async (path: string) => {
    const response = await fetch(`${url}${path}`);
    return { status: response.status, body: (await response.json()) as Json };
  };
  async function settled(operationId: string): Promise<Json> {
    for (let i = 0; i < 300; i += 1) {
      const { body } = await get(`/v1/operations/${operationId}`);
      if (body['state'] !== 'pending') return body;
      await sleep(50);
    }
    throw new Error(`operation ${operationId} still pending`);
  }
  const auditOf = async (name: string, eventType: string) => (await get(`/v1/audit?agent_name=${name}&event_type=${eventType}`)).body['events'] as Json[];

  it('accepts a registration at once (202, agent pending, the server-made key) and a worker finishes it once', async () => {
    const accepted = await post('/v1/agents', { agent_name: 'later.async.example', owner: 'team-a', capabilities: ['chat'] });
    expect(accepted.status).toBe(202);
    expect(accepted.body).toMatchObject({ agent_name: 'later.async.example', status: 'pending', cert_pem: null, operation_id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(accepted.body['private_key_pem']).toContain('BEGIN PRIVATE KEY');
    const id = accepted.body['operation_id'] as string;
    expect((await get('/v1/agents/later.async.example')).body['status']).toBe('pending');
    expect((await get(`/v1/operations/${id}`)).body).toMatchObject({ operation_id: id, kind: 'register', state: 'pending', step: 'issue', attempts: 0 });
    // The name is taken while it is pending.
    expect((await post('/v1/agents', { agent_name: 'later.async.example', owner: 'team-b' })).body['code']).toBe('name_taken');

    await startWorker();
    const done = await settled(id);
    expect(done).toMatchObject({ state: 'succeeded', step: 'done', attempts: 1, agent: { status: 'active' } });
    expect(publicKeyOf(done['cert_pem'] as string)).toBe(publicKeyOfPrivate(accepted.body['private_key_pem'] as string));
    const agent = (await get('/v1/agents/later.async.example')).body;
    expect(agent).toMatchObject({ status: 'active', version: 1, owner: 'team-a' });
    const events = await auditOf('later.async.example', 'agent.registered');
    expect(events).toHaveLength(1);
    expect(events[0]?.['metadata']).toMatchObject({ operation_id: id, key_source: 'generated' });
    const leaf = (await get(`/v1/log/entries/${done['log_index']}`)).body;
    expect(leaf).toMatchObject({ index: done['log_index'], event: { agent_name: 'later.async.example', status: 'active', cert_fingerprint: agent['cert_fingerprint'] } });
  });

  it('keeps a call synchronous when it asks (201 with the certificate)', async () => {
    const { csrPem } = await keyAndCsr();
    const answer = await post('/v1/agents', { agent_name: 'now.async.example', owner: 'team-a', csr_pem: csrPem, synchronous: true });
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ status: 'active', operation_id: null });
    expect(answer.body['cert_pem']).toContain('BEGIN CERTIFICATE');
  });

  it('rotates in the background: the agent keeps its certificate until the operation succeeds', async () => {
    const { csrPem } = await keyAndCsr();
    const before = await post('/v1/agents', { agent_name: 'turn.async.example', owner: 'team-a', synchronous: true });
    const accepted = await post('/v1/agents/turn.async.example/rotate', { csr_pem: csrPem, expected_version: 1 });
    expect(accepted.status).toBe(202);
    expect(accepted.body).toMatchObject({ status: 'active', cert_pem: null, private_key_pem: null });
    const done = await settled(accepted.body['operation_id'] as string);
    expect(done).toMatchObject({ kind: 'rotate', state: 'succeeded', agent: { version: 2 } });
    const certificate = (await get('/v1/agents/turn.async.example/cert')).body;
    expect(certificate['cert_pem']).toBe(done['cert_pem']);
    expect(certificate['cert_pem']).not.toBe(before.body['cert_pem']);
    const rotated = await auditOf('turn.async.example', 'agent.rotated');
    expect(rotated).toHaveLength(1);
    expect(rotated[0]?.['metadata']).toMatchObject({ previous_fingerprint: before.body['cert_fingerprint'] ?? expect.any(String), key_source: 'csr' });
  });

  it('fails an operation whose change became impossible, says why, and frees a failed registration\'s name', async () => {
    await stopWorker();
    await post('/v1/agents', { agent_name: 'moved.async.example', owner: 'team-a', synchronous: true });
    const stale = await post('/v1/agents/moved.async.example/rotate', {});
    // The agent moves on before the worker gets to the rotation.
    const revoked = await post('/v1/agents/moved.async.example/revoke', { reason: 'keyCompromise' });
    expect(revoked.status).toBe(200);
    const registration = await post('/v1/agents', { agent_name: 'gone.async.example', owner: 'team-a' });
    await post('/v1/agents/gone.async.example/revoke', {});
    await startWorker();
    const failed = await settled(stale.body['operation_id'] as string);
    expect(failed).toMatchObject({ state: 'failed', error_code: 'agent_revoked', step: expect.any(String) });
    expect(await auditOf('moved.async.example', 'agent.rotated')).toHaveLength(0);
    expect(await auditOf('moved.async.example', 'operation.failed')).toHaveLength(1);
    // A registration whose pending agent was revoked fails too, and the revocation stands.
    expect(await settled(registration.body['operation_id'] as string)).toMatchObject({ state: 'failed', error_code: 'agent_revoked' });
    expect((await get('/v1/agents/gone.async.example')).body['status']).toBe('revoked');
    // Both failures reach the event feed (so webhooks too), under the operation's owner.
    const feed = (await get('/v1/events?event_types=operation.failed&owner=team-a&limit=100')).body['events'] as Json[];
    const failures = feed.filter((event) => ['moved.async.example', 'gone.async.example'].includes(event['agent_name']));
    expect(failures.map((event) => event['metadata']['operation_id']).sort()).toEqual([stale.body['operation_id'], registration.body['operation_id']].sort());
    expect(failures.every((event) => event['owner'] === 'team-a' && event['metadata']['error_code'] === 'agent_revoked')).toBe(true);
  });

  it('frees the name of a registration that cannot be finished', async () => {
    await stopWorker();
    const accepted = await post('/v1/agents', { agent_name: 'doomed.async.example', owner: 'team-a' });
    // The issuing CA's validity is the one thing a registration can run into later: here the CA is made to refuse.
    const app2 = await createApp({ ...app.config, workersEnabled: true, certValidityDays: -1, certValiditySeconds: 0 });
    try {
      const failed = await settled(accepted.body['operation_id'] as string);
      expect(failed).toMatchObject({ state: 'failed', error_code: 'invalid_argument' });
      expect((await get('/v1/agents/doomed.async.example')).status).toBe(404);
      expect((await post('/v1/agents', { agent_name: 'doomed.async.example', owner: 'team-b', synchronous: true })).status).toBe(201);
    } finally {
      await app2.close();
    }
  });

  it('refuses bad input before accepting anything, and unknown operations', async () => {
    const bad = await post('/v1/agents', { agent_name: 'Not A Name', owner: 'team-a' });
    expect(bad.status).toBe(400);
    expect(bad.body['code']).toBe('invalid_name');
    expect((await get('/v1/agents/not-a-name.example')).status).toBe(404);
    expect((await get('/v1/operations/not-an-id')).body).toMatchObject({ code: 'invalid_argument' });
    expect((await get('/v1/operations/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    await stopWorker();
    const rotatePending = await post('/v1/agents', { agent_name: 'early.async.example', owner: 'team-a' });
    const early = await post('/v1/agents/early.async.example/rotate', {});
    expect(early.status).toBe(409);
    expect(early.body['code']).toBe('agent_pending');
    await startWorker();
    await settled(rotatePending.body['operation_id'] as string);
  });

  it('works for a grpc-js client: RegisterAgent answers with an operation, WatchOperation streams it to the end', async () => {
    await stopWorker();
    const { registry, operations } = grpcJsClients(new URL(url).host);
    try {
      const registered = await new Promise<Json>((resolve, reject) =>
        registry['RegisterAgent']!({ agent_name: 'grpcjs.async.example', owner: 'team-a' }, (error: Error | null, answer: Json) => (error ? reject(error) : resolve(answer))),
      );
      expect(registered).toMatchObject({ cert_pem: '', operation_id: expect.stringMatching(/^[0-9a-f-]{36}$/), agent: { status: 'AGENT_STATUS_PENDING' } });
      const stream = operations['WatchOperation']!({ operation_id: registered['operation_id'] }) as grpc.ClientReadableStream<Json>;
      const updates: Json[] = [];
      stream.on('data', (update: Json) => updates.push(update['operation']));
      const ended = new Promise((resolve, reject) => {
        stream.on('end', resolve);
        stream.on('error', reject);
      });
      await sleep(200);
      await startWorker();
      await ended;
      expect(updates[0]).toMatchObject({ state: 'OPERATION_STATE_PENDING', step: 'issue' });
      expect(updates.at(-1)).toMatchObject({ state: 'OPERATION_STATE_SUCCEEDED', step: 'done', agent: { status: 'AGENT_STATUS_ACTIVE' } });
      expect(updates.at(-1)?.['cert_pem']).toContain('BEGIN CERTIFICATE');
    } finally {
      registry.close();
      operations.close();
    }
  });

  it('queues again an operation whose job was lost, at the next lifecycle sweep', async () => {
    await stopWorker();
    const accepted = await post('/v1/agents', { agent_name: 'lost.async.example', owner: 'team-a' });
    const id = accepted.body['operation_id'] as string;
    // As if the process had crashed between committing the operation and queueing its job.
    const database = await openDatabase(app.config.databaseUrl);
    try {
      expect(await database.orm.em.getKnex()('jobs').where('id', `operation@${id}`).delete()).toBe(1);
    } finally {
      await database.close();
    }
    await sleep(1100);
    worker = await createApp({ ...app.config, workersEnabled: true, lifecycleIntervalSeconds: 1 });
    expect(await settled(id)).toMatchObject({ state: 'succeeded', attempts: 1 });
  });

  it('reports progress over a gRPC stream (WatchOperation) until the operation ends', async () => {
    await stopWorker();
    const accepted = await post('/v1/agents', { agent_name: 'watched.async.example', owner: 'team-a' });
    const client = createClient(OperationService, createGrpcTransport({ baseUrl: url }));
    const states: OperationState[] = [];
    const watching = (async () => {
      for await (const update of client.watchOperation({ operationId: accepted.body['operation_id'] as string })) states.push(update.operation!.state);
    })();
    await sleep(300);
    await startWorker();
    await watching;
    expect(states[0]).toBe(OperationState.PENDING);
    expect(states.at(-1)).toBe(OperationState.SUCCEEDED);
    const refused = await rpcError(client.getOperation({ operationId: '00000000-0000-4000-8000-000000000000' }));
    expect(refused.code).toBe(Code.NotFound);
  });
});
