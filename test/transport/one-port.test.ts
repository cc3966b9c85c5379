import { Code, type Transport, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { type TestServer, curl, grpcClient, grpcMethod, grpcUnary, pick, startTestServer } from './fixture.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

describe('one port, every protocol', () => {
  it('answers the same REST request over HTTP/1.1 and h2c with prior knowledge', async () => {
    const url = `${server.url}/v1/agents`;
    const body = JSON.stringify({ agent_name: 'curl.example', owner: 'ops' });
    const created = await curl('--http1.1', url, '-H', 'content-type: application/json', '-d', body);
    expect(created).toMatchObject({ status: 201, httpVersion: '1.1' });

    const h1 = await curl('--http1.1', `${url}/curl.example`);
    const h2 = await curl('--http2-prior-knowledge', `${url}/curl.example`);
    expect(h1.httpVersion).toBe('1.1');
    expect(h2.httpVersion).toBe('2');
    expect(h1.status).toBe(200);
    expect(h2.status).toBe(200);
    expect(JSON.parse(h2.body)).toEqual(JSON.parse(h1.body));
    expect(JSON.parse(h1.body)).toMatchObject({ agent_name: 'curl.example', owner: 'ops', status: 'active' });
  });

  const transports: [string, () => Transport][] = [
    ['Connect JSON over HTTP/1.1', () => createConnectTransport({ baseUrl: server.url, httpVersion: '1.1' })],
    [
      'Connect binary over h2c',
      () => createConnectTransport({ baseUrl: server.url, httpVersion: '2', useBinaryFormat: true }),
    ],
    ['gRPC over h2c', () => createGrpcTransport({ baseUrl: server.url })],
    ['gRPC-Web over HTTP/1.1', () => createGrpcWebTransport({ baseUrl: server.url, httpVersion: '1.1' })],
  ];

  it.each(transports)('%s registers and reads an agent', async (label, transport) => {
    const client = createClient(RegistryService, transport());
    const name = `${label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.example`;
    const registered = await client.registerAgent({ agentName: name, owner: 'team', capabilities: ['chat'] });
    expect(registered.agent?.agentName).toBe(name);
    expect(registered.certPem).toBe(`cert of ${name}`);

    const fetched = await client.getAgent({ agentName: name });
    expect(fetched.agent?.status).toBe(AgentStatus.ACTIVE);
    expect(fetched.agent?.capabilities).toEqual(['chat']);

    await expect(client.getAgent({ agentName: 'nobody.example' })).rejects.toMatchObject({ code: Code.NotFound });
  });

  it('serves a grpc-js client over h2c with insecure credentials', async () => {
    server.agents.clear();
    const register = createClient(RegistryService, createGrpcTransport({ baseUrl: server.url }));
    await register.registerAgent({ agentName: 'grpcjs.example', owner: 'team' });

    const client = grpcClient(server.port);
    try {
      const getAgent = grpcMethod('atr/v1/registry.proto', 'atr.v1.RegistryService', 'GetAgent');
      const response = await grpcUnary(client, getAgent, { agent_name: 'grpcjs.example' });
      expect(pick(response, 'agent', 'agent_name')).toBe('grpcjs.example');
      expect(pick(response, 'agent', 'status')).toBe('AGENT_STATUS_ACTIVE');
    } finally {
      client.close();
    }
  });

  it('serves extra GET routes and answers unknown paths with a JSON 404 on both protocols', async () => {
    for (const version of ['--http1.1', '--http2-prior-knowledge'] as const) {
      const crl = await curl(version, `${server.url}/v1/crl`);
      expect(crl).toMatchObject({ status: 200, body: 'crl bytes' });
      const missing = await curl(version, `${server.url}/nothing/here`);
      expect(missing.status).toBe(404);
      expect(JSON.parse(missing.body)).toMatchObject({ code: 'not_found' });
    }
  });
});
