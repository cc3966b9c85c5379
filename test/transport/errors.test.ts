import { Code, ConnectError, type Transport, createClient, createRouterTransport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { Health } from '../../gen/grpc/health/v1/health_pb.js';
import { DomainError, type ErrorCode, agentNotFound } from '../../src/errors.ts';
import { errorInterceptor, errorTable, restError, restErrorFromDomain } from '../../src/server/errors.ts';
import {
  type TestServer,
  explodingName,
  grpcClient,
  grpcError,
  grpcMethod,
  grpcUnary,
  secret,
  startTestServer,
} from './fixture.ts';
import { recordingLogger } from '../support/logger.ts';

let server: TestServer;
const { logger, lines } = recordingLogger();

beforeAll(async () => {
  server = await startTestServer({ logger });
});
afterAll(() => server.close());
beforeEach(() => server.agents.clear());

async function failure(call: Promise<unknown>): Promise<ConnectError> {
  const outcome = await call.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof ConnectError)) throw new Error(`expected a ConnectError, got ${String(outcome)}`);
  return outcome;
}

const transports: [string, () => Transport][] = [
  ['Connect', () => createConnectTransport({ baseUrl: server.url, httpVersion: '1.1' })],
  ['gRPC', () => createGrpcTransport({ baseUrl: server.url })],
  ['gRPC-Web', () => createGrpcWebTransport({ baseUrl: server.url, httpVersion: '1.1' })],
];

describe.each(transports)('errors over %s', (_label, transport) => {
  it('carries the Connect code, the domain message and the atr-error-code header', async () => {
    const client = createClient(RegistryService, transport());
    const invalid = await failure(client.registerAgent({ agentName: 'Not A Name' }));
    expect(invalid.code).toBe(Code.InvalidArgument);
    expect(invalid.rawMessage).toContain('labels must be lowercase LDH');
    expect(invalid.metadata.get('atr-error-code')).toBe('invalid_name');

    const missing = await failure(client.getAgent({ agentName: 'nobody.example' }));
    expect(missing.code).toBe(Code.NotFound);
    expect(missing.rawMessage).toBe('agent nobody.example not found');
    expect(missing.metadata.get('atr-error-code')).toBe('agent_not_found');

    await client.registerAgent({ agentName: 'taken.example' });
    const taken = await failure(client.registerAgent({ agentName: 'taken.example' }));
    expect(taken.code).toBe(Code.AlreadyExists);
    expect(taken.rawMessage).toBe('agent name taken.example is already taken');
    expect(taken.metadata.get('atr-error-code')).toBe('name_taken');
  });

  it('turns any other failure into Internal "internal error" and logs the real one', async () => {
    lines.length = 0;
    const client = createClient(RegistryService, transport());
    const error = await failure(client.registerAgent({ agentName: explodingName }));
    expect(error.code).toBe(Code.Internal);
    expect(error.rawMessage).toBe('internal error');
    expect(error.metadata.get('atr-error-code')).toBeNull();
    expect(JSON.stringify([error.message, [...error.metadata]])).not.toContain('hunter2');
    const requestId = error.metadata.get('x-request-id');
    expect(lines).toContainEqual({ level: 'error', message: 'internal error', fields: { requestId, err: expect.objectContaining({ message: `cannot reach ${secret}` }) } });
  });
});

describe('errors for a grpc-js client', () => {
  it('sees the status code, the message and the atr-error-code trailer', async () => {
    const client = grpcClient(server.port);
    try {
      const getAgent = grpcMethod('atr/v1/registry.proto', 'atr.v1.RegistryService', 'GetAgent');
      const error = await grpcError(grpcUnary(client, getAgent, { agent_name: 'nobody.example' }));
      expect(error.code).toBe(grpcStatus.NOT_FOUND);
      expect(error.details).toBe('agent nobody.example not found');
      expect(error.metadata.get('atr-error-code')).toEqual(['agent_not_found']);
    } finally {
      client.close();
    }
  });

  it('sees Internal without the leaked text', async () => {
    const client = grpcClient(server.port);
    try {
      const registerAgent = grpcMethod('atr/v1/registry.proto', 'atr.v1.RegistryService', 'RegisterAgent');
      const error = await grpcError(grpcUnary(client, registerAgent, { agent_name: explodingName }));
      expect(error.code).toBe(grpcStatus.INTERNAL);
      expect(error.details).toBe('internal error');
      expect(JSON.stringify(error.metadata.getMap())).not.toContain('hunter2');
    } finally {
      client.close();
    }
  });
});

describe('errorInterceptor on streams', () => {
  it('maps errors a server stream throws while it runs', async () => {
    const transport = createRouterTransport(
      (router) =>
        router.service(Health, {
          async *watch(req) {
            yield { status: 1 };
            if (req.service === 'domain') throw agentNotFound('streamed.example');
            throw new Error(secret);
          },
        }),
      { router: { interceptors: [errorInterceptor] } },
    );
    const client = createClient(Health, transport);
    const drain = async (service: string) => {
      for await (const _ of client.watch({ service }));
    };
    const domain = await failure(drain('domain'));
    expect(domain.code).toBe(Code.NotFound);
    expect(domain.metadata.get('atr-error-code')).toBe('agent_not_found');
    const internal = await failure(drain('plain'));
    expect(internal.code).toBe(Code.Internal);
    expect(internal.rawMessage).toBe('internal error');
  });
});

describe('the error table', () => {
  it('gives every domain code a Connect code and the HTTP status REST answers with', () => {
    const expected: [ErrorCode, Code, number][] = [
      ['invalid_argument', Code.InvalidArgument, 400],
      ['invalid_name', Code.InvalidArgument, 400],
      ['invalid_csr', Code.InvalidArgument, 400],
      ['invalid_certificate', Code.InvalidArgument, 400],
      ['input_too_large', Code.InvalidArgument, 400],
      ['agent_not_found', Code.NotFound, 404],
      ['name_taken', Code.AlreadyExists, 409],
      ['agent_revoked', Code.FailedPrecondition, 409],
      ['agent_pending', Code.FailedPrecondition, 409],
      ['version_conflict', Code.Aborted, 409],
      ['log_entry_not_found', Code.NotFound, 404],
      ['log_not_ready', Code.FailedPrecondition, 409],
      ['log_disabled', Code.FailedPrecondition, 409],
      ['certificate_superseded', Code.FailedPrecondition, 409],
      ['unauthenticated', Code.Unauthenticated, 401],
      ['permission_denied', Code.PermissionDenied, 403],
      ['rate_limited', Code.ResourceExhausted, 429],
      ['key_not_found', Code.NotFound, 404],
      ['job_not_found', Code.NotFound, 404],
      ['operation_not_found', Code.NotFound, 404],
      ['webhook_not_found', Code.NotFound, 404],
      ['dns_disabled', Code.FailedPrecondition, 409],
      ['domain_not_found', Code.NotFound, 404],
      ['domain_taken', Code.AlreadyExists, 409],
      ['challenge_failed', Code.FailedPrecondition, 409],
      ['verification_unavailable', Code.Unavailable, 503],
      ['storage_unavailable', Code.Unavailable, 503],
    ];
    expect(Object.keys(errorTable).sort()).toEqual(expected.map(([code]) => code).sort());
    for (const [code, connect, status] of expected) {
      expect(errorTable[code]).toEqual({ connect, status });
      expect(restErrorFromDomain(new DomainError(code, 'm'))).toEqual({ status, body: { detail: 'm', code } });
    }
  });

  it('maps plain Connect codes as the Connect protocol does', () => {
    const cases: [Code, number, string][] = [
      [Code.Unauthenticated, 401, 'unauthenticated'],
      [Code.PermissionDenied, 403, 'permission_denied'],
      [Code.ResourceExhausted, 429, 'resource_exhausted'],
      [Code.Unimplemented, 501, 'unimplemented'],
      [Code.Unavailable, 503, 'unavailable'],
      [Code.Internal, 500, 'internal'],
      [Code.DeadlineExceeded, 504, 'deadline_exceeded'],
      [Code.FailedPrecondition, 400, 'failed_precondition'],
    ];
    for (const [code, status, name] of cases) {
      expect(restError(new ConnectError('m', code))).toEqual({ status, body: { detail: 'm', code: name } });
    }
  });
});
