// METRICS_PORT: /metrics on a listener of its own (METRICS_HOST, loopback by default) and nowhere else; the public
// listener answers 404 there, and the metrics port answers nothing but /metrics.
import { describe, expect, it } from 'vitest';
import { dialects } from '../support/databases.ts';
import { runningServer } from '../support/server.ts';

describe.each(dialects)('METRICS_PORT (%s)', (dialect) => {
  it('serves /metrics only on its own port, without the key the public listener would ask for', async () => {
    const server = await runningServer(dialect, { metricsPort: 0, apiKeyEnabled: true, publicReads: false, rateLimitEnabled: true });
    try {
      const { url, metricsUrl } = server.server;
      expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(metricsUrl).not.toBe(url);
      const publicMetrics = await fetch(`${url}/metrics`);
      expect(publicMetrics.status).toBe(404);
      expect(await publicMetrics.json()).toMatchObject({ code: 'not_found' });

      await fetch(`${url}/v1/agents/missing.example`);
      const scraped = await fetch(`${metricsUrl}/metrics`);
      expect(scraped.status).toBe(200);
      expect(scraped.headers.get('content-type')).toContain('text/plain');
      // What the public listener served is counted in the same registry.
      expect(await scraped.text()).toMatch(/^atr_rpc_requests_total\{service="atr\.v1\.RegistryService",method="GetAgent",code="unauthenticated"\} 1$/m);

      for (const path of ['/healthz', '/v1/agents', '/metrics/extra', '/']) {
        const other = await fetch(`${metricsUrl}${path}`);
        expect([path, other.status]).toEqual([path, 404]);
        expect(await other.json()).toEqual({ code: 'not_found', detail: 'only GET /metrics is served on the metrics port' });
      }
    } finally {
      await server.cleanup();
    }
  }, 120_000);

  it('stays plain HTTP beside a TLS public listener, and off when unset', async () => {
    const tls = await runningServer(dialect, { metricsPort: 0, publicTls: 'registry' });
    try {
      expect(tls.server.url).toMatch(/^https:/);
      expect((await fetch(`${tls.server.metricsUrl}/metrics`)).status).toBe(200);
    } finally {
      await tls.cleanup();
    }
    const plain = await runningServer(dialect, {});
    try {
      expect(plain.server.metricsUrl).toBeUndefined();
      expect((await fetch(`${plain.server.url}/metrics`)).status).toBe(200);
    } finally {
      await plain.cleanup();
    }
  }, 120_000);
});
