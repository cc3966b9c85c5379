import { createHandlerContext } from '@connectrpc/connect';
import { create } from '@bufbuild/protobuf';
import { Metadata, status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Health, HealthCheckRequestSchema } from '../../gen/grpc/health/v1/health_pb.js';
import { createHealthService } from '../../src/server/health.ts';
import { recordingLogger } from '../support/logger.ts';
import { type TestServer, grpcClient, grpcError, grpcMethod, grpcUnary, pick, startTestServer } from './fixture.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());
afterEach(() => server.setReady(true));

const healthProto = 'grpc/health/v1/health.proto';
const check = grpcMethod(healthProto, 'grpc.health.v1.Health', 'Check');
const watch = grpcMethod(healthProto, 'grpc.health.v1.Health', 'Watch');

describe('grpc.health.v1.Health over grpc-js', () => {
  it('Check answers SERVING for the server and each known service, NOT_SERVING when not ready', async () => {
    const client = grpcClient(server.port);
    try {
      for (const service of ['', 'atr.v1.RegistryService', 'grpc.health.v1.Health']) {
        expect(pick(await grpcUnary(client, check, { service }), 'status')).toBe('SERVING');
      }
      server.setReady(false);
      expect(pick(await grpcUnary(client, check, { service: '' }), 'status')).toBe('NOT_SERVING');
      expect(pick(await grpcUnary(client, check, { service: 'atr.v1.RegistryService' }), 'status')).toBe('NOT_SERVING');
    } finally {
      client.close();
    }
  });

  it('Check answers NotFound for an unknown service', async () => {
    const client = grpcClient(server.port);
    try {
      const error = await grpcError(grpcUnary(client, check, { service: 'no.such.Service' }));
      expect(error.code).toBe(grpcStatus.NOT_FOUND);
    } finally {
      client.close();
    }
  });

  // The statuses a grpc-js Watch stream sends, one at a time; the stream is cancelled when the test is done.
  async function watchStatuses(service: string, test: (next: () => Promise<unknown>) => Promise<void>) {
    const client = grpcClient(server.port);
    const call = client.makeServerStreamRequest(watch.path, watch.requestSerialize, watch.responseDeserialize, { service }, new Metadata());
    call.on('error', () => {});
    const updates: AsyncIterator<object> = call[Symbol.asyncIterator]();
    try {
      await test(async () => pick((await updates.next()).value, 'status'));
    } finally {
      call.cancel();
      client.close();
    }
  }

  it('Watch sends the current status at once and again when readiness flips', async () => {
    await watchStatuses('atr.v1.RegistryService', async (next) => {
      expect(await next()).toBe('SERVING');
      server.setReady(false);
      expect(await next()).toBe('NOT_SERVING');
      server.setReady(true);
      expect(await next()).toBe('SERVING');
    });
  });

  it('Watch reports SERVICE_UNKNOWN for an unknown service instead of failing', async () => {
    await watchStatuses('no.such.Service', async (next) => {
      expect(await next()).toBe('SERVICE_UNKNOWN');
    });
  });
});

describe('/healthz and /readyz', () => {
  it('/healthz answers ok while the process runs, ready or not', async () => {
    server.setReady(false);
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz answers 200 with the checks when ready and 503 when not', async () => {
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok' } });

    server.setReady(false);
    const unready = await fetch(`${server.url}/readyz`);
    expect(unready.status).toBe(503);
    expect(await unready.json()).toEqual({ status: 'unavailable', checks: { database: 'unreachable' } });
  });
});

describe('createHealthService', () => {
  it('ends a Watch when its caller goes away', async () => {
    const health = createHealthService({
      services: ['atr.v1.RegistryService'],
      readiness: async () => ({ ready: true, checks: {} }),
      pollMs: 1,
    });
    const caller = new AbortController();
    const context = createHandlerContext({
      service: Health,
      method: Health.method.watch,
      protocolName: 'test',
      requestMethod: 'POST',
      url: '/grpc.health.v1.Health/Watch',
      requestSignal: caller.signal,
    });
    const updates = health.impl.watch(create(HealthCheckRequestSchema, { service: '' }), context)[Symbol.asyncIterator]();
    expect(await updates.next()).toMatchObject({ done: false, value: { status: 1 } });
    const rest = updates.next();
    caller.abort();
    expect(await rest).toEqual({ done: true, value: undefined });
  });

  it('shares one readiness call between concurrent checks and reports a failing probe as not ready', async () => {
    let calls = 0;
    let fail = (_: Error) => {};
    const { logger, lines } = recordingLogger();
    const health = createHealthService({
      services: [],
      readiness: () => {
        calls++;
        return new Promise((_resolve, reject) => (fail = reject));
      },
      logger,
    });
    const context = createHandlerContext({
      service: Health,
      method: Health.method.check,
      protocolName: 'test',
      requestMethod: 'POST',
      url: '/grpc.health.v1.Health/Check',
    });
    const request = create(HealthCheckRequestSchema, { service: '' });
    const checks = [health.impl.check(request, context), health.impl.check(request, context)];
    fail(new Error('database down'));
    const answers = await Promise.all(checks);
    expect(answers.map((a) => a.status)).toEqual([2, 2]);
    expect(calls).toBe(1);
    expect(lines.map((line) => line.message)).toEqual(['readiness probe failed']);
  });
});
