import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient } from '../../src/sdk/client.ts';
import { rpcError } from '../support/rpc.ts';
import { runningServer } from '../support/server.ts';

describe('GET /metrics', () => {
  let server: Awaited<ReturnType<typeof runningServer>>;
  beforeAll(async () => {
    server = await runningServer('sqlite', { rateLimitEnabled: true, rateLimitPerMinute: 20 });
  });
  afterAll(() => server.cleanup());

  const scrape = async () => {
    const response = await fetch(`${server.server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    return response.text();
  };
  const sample = (text: string, metric: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${metric} `));
    return line === undefined ? undefined : Number(line.slice(metric.length + 1));
  };

  it('counts API calls by method and code on every protocol, REST included', async () => {
    const client = createRegistryClient({ baseUrl: server.server.url, protocol: 'grpc' });
    await client.registry.registerAgent({ agentName: 'metrics.example', owner: 'ops' });
    await client.resolve.resolveAgent({ agentName: 'metrics.example' });
    await rpcError(client.resolve.resolveAgent({ agentName: 'missing.example' }));
    expect((await fetch(`${server.server.url}/v1/resolve/metrics.example`)).status).toBe(200);

    const text = await scrape();
    expect(sample(text, 'atr_rpc_requests_total{service="atr.v1.ResolveService",method="ResolveAgent",code="ok"}')).toBe(2);
    expect(sample(text, 'atr_rpc_requests_total{service="atr.v1.ResolveService",method="ResolveAgent",code="not_found"}')).toBe(1);
    expect(sample(text, 'atr_rpc_requests_total{service="atr.v1.RegistryService",method="RegisterAgent",code="ok"}')).toBe(1);
    expect(sample(text, 'atr_rpc_duration_seconds_count{service="atr.v1.ResolveService",method="ResolveAgent"}')).toBe(3);
    expect(text).toContain('atr_process_resident_memory_bytes');
  });

  it('counts refused mTLS handshakes and rate-limited requests, and is itself never limited', async () => {
    const { mtlsPort } = server.server;
    await new Promise<void>((resolve) => {
      // No client certificate: the listener refuses the connection right after the handshake.
      const socket = tls.connect({ host: '127.0.0.1', port: mtlsPort ?? 0, rejectUnauthorized: false });
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
    });
    const client = createRegistryClient({ baseUrl: server.server.url });
    for (let i = 0; i < 25; i++) await client.resolve.resolveAgent({ agentName: 'metrics.example' }).catch(() => undefined);
    for (let i = 0; i < 25; i++) await scrape();

    const text = await scrape();
    expect(sample(text, 'atr_mtls_refused_connections{reason="no_certificate"}')).toBeGreaterThan(0);
    expect(sample(text, 'atr_rate_limited_requests{budget="minute:address"}')).toBeGreaterThan(0);
    expect(sample(text, 'atr_rpc_requests_total{service="atr.v1.ResolveService",method="ResolveAgent",code="resource_exhausted"}')).toBeGreaterThan(0);
  });
});
