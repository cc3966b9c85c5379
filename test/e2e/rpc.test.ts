import { fileURLToPath } from 'node:url';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { VerifyReason, VerifyService } from '../../gen/atr/v1/verify_pb.js';
import { dialects } from '../support/databases.ts';
import { runningServer } from '../support/server.ts';

const protoDir = fileURLToPath(new URL('../../proto', import.meta.url));

function loadGrpc(file: string): grpc.GrpcObject {
  return grpc.loadPackageDefinition(
    protoLoader.loadSync(file, { includeDirs: [protoDir], keepCase: true, longs: String, enums: String, defaults: true }),
  );
}

type Callback<T> = (error: grpc.ServiceError | null, response: T) => void;
type UnaryClient = grpc.Client & Record<string, (request: object, callback: Callback<Record<string, unknown>>) => void>;

function unary(client: UnaryClient, method: string, request: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => client[method]!(request, (error, response) => (error ? reject(error) : resolve(response))));
}

describe.each(dialects)('gRPC, gRPC-Web and Connect on one port, %s', (dialect) => {
  let url: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const started = await runningServer(dialect);
    url = started.server.url;
    cleanup = started.cleanup;
  });
  afterAll(() => cleanup());

  it.each([
    ['connect (JSON, HTTP/1.1)', () => createConnectTransport({ baseUrl: url, httpVersion: '1.1', useBinaryFormat: false })],
    ['connect (binary, h2c)', () => createConnectTransport({ baseUrl: url, httpVersion: '2', useBinaryFormat: true })],
    ['gRPC (h2c)', () => createGrpcTransport({ baseUrl: url })],
    ['gRPC-Web (HTTP/1.1)', () => createGrpcWebTransport({ baseUrl: url, httpVersion: '1.1' })],
  ])('runs the lifecycle over %s', async (label, transport) => {
    const registry = createClient(RegistryService, transport());
    const verify = createClient(VerifyService, transport());
    const resolve = createClient(ResolveService, transport());
    const agentName = `${label.replace(/[^a-z0-9]+/gi, '-').replace(/-$/, '').toLowerCase()}.${dialect}.example`;
    const { certPem } = await registry.registerAgent({ agentName, owner: 'rpc' });
    expect((await verify.verifyCertificate({ certPem })).reason).toBe(VerifyReason.VERIFIED);
    const rotated = await registry.rotateCertificate({ agentName });
    expect((await verify.verifyCertificate({ certPem })).reason).toBe(VerifyReason.SUPERSEDED);
    await registry.revokeAgent({ agentName, reason: 'cessationOfOperation' });
    expect((await verify.verifyCertificate({ certPem: rotated.certPem })).reason).toBe(VerifyReason.REVOKED);
    expect((await resolve.resolveAgent({ agentName })).status).toBe(AgentStatus.REVOKED);
    const error = await registry.getAgent({ agentName: 'Nope' }).catch((e: unknown) => ConnectError.from(e));
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).metadata.get('atr-error-code')).toBe('invalid_name');
  });

  it('serves a grpc-js client built from the protos alone', async () => {
    const atr = loadGrpc('atr/v1/registry.proto') as unknown as { atr: { v1: Record<string, grpc.ServiceClientConstructor> } };
    const address = new URL(url).host;
    const client = new atr.atr.v1.RegistryService!(address, grpc.credentials.createInsecure()) as unknown as UnaryClient;
    try {
      const registered = await unary(client, 'RegisterAgent', { agent_name: `grpcjs.${dialect}.example`, owner: 'grpc-js', capabilities: ['x'] });
      expect((registered['agent'] as Record<string, unknown>)['status']).toBe('AGENT_STATUS_ACTIVE');
      const fetched = await unary(client, 'GetAgent', { agent_name: `grpcjs.${dialect}.example` });
      expect(fetched['agent']).toMatchObject({ agent_name: `grpcjs.${dialect}.example`, owner: 'grpc-js', capabilities: ['x'] });
      const missing = await unary(client, 'GetAgent', { agent_name: 'missing.example' }).catch((e: grpc.ServiceError) => e);
      expect((missing as grpc.ServiceError).code).toBe(grpc.status.NOT_FOUND);
      expect((missing as grpc.ServiceError).details).toBe('agent missing.example not found');
      const taken = await unary(client, 'RegisterAgent', { agent_name: `grpcjs.${dialect}.example`, owner: 'x' }).catch((e: grpc.ServiceError) => e);
      expect((taken as grpc.ServiceError).code).toBe(grpc.status.ALREADY_EXISTS);
    } finally {
      client.close();
    }
  });

  it('answers grpc.health.v1 and reflection to grpc-js', async () => {
    const address = new URL(url).host;
    const health = loadGrpc('grpc/health/v1/health.proto') as unknown as { grpc: { health: { v1: Record<string, grpc.ServiceClientConstructor> } } };
    const healthClient = new health.grpc.health.v1.Health!(address, grpc.credentials.createInsecure()) as unknown as UnaryClient;
    try {
      expect(await unary(healthClient, 'Check', { service: '' })).toEqual({ status: 'SERVING' });
      expect(await unary(healthClient, 'Check', { service: 'atr.v1.RegistryService' })).toEqual({ status: 'SERVING' });
    } finally {
      healthClient.close();
    }

    const reflection = loadGrpc('grpc/reflection/v1/reflection.proto') as unknown as {
      grpc: { reflection: { v1: Record<string, grpc.ServiceClientConstructor> } };
    };
    const client = new reflection.grpc.reflection.v1.ServerReflection!(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      ServerReflectionInfo(): grpc.ClientDuplexStream<object, Record<string, Record<string, unknown>>>;
    };
    try {
      const stream = client.ServerReflectionInfo();
      const answers: Record<string, Record<string, unknown>>[] = [];
      const done = new Promise<void>((resolve, reject) => {
        stream.on('data', (answer) => answers.push(answer));
        stream.on('end', resolve);
        stream.on('error', reject);
      });
      stream.write({ list_services: '' });
      stream.write({ file_containing_symbol: 'atr.v1.VerifyService' });
      stream.end();
      await done;
      const services = (answers[0]!['list_services_response']!['service'] as { name: string }[]).map((s) => s.name);
      expect(services).toEqual(expect.arrayContaining(['atr.v1.RegistryService', 'atr.v1.VerifyService', 'atr.v1.ResolveService', 'atr.v1.TransparencyLogService', 'grpc.health.v1.Health']));
      const files = (answers[1]!['file_descriptor_response']!['file_descriptor_proto'] as Buffer[]).map(
        (bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name,
      );
      expect(files).toEqual(expect.arrayContaining(['atr/v1/verify.proto', 'atr/v1/agent.proto', 'google/protobuf/timestamp.proto']));
    } finally {
      client.close();
    }
  });

  it('reports liveness and readiness over plain HTTP', async () => {
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { database: 'ok' } });
  });
});
