// Answers are compressed only when that pays: a resolve answer (the certificate's PEM, 1-3 KiB) goes as it is to a
// client that accepts gzip, a long listing goes gzipped, on Connect and gRPC alike.
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runningServer } from '../support/server.ts';

function post(url: string, path: string, body: string, headers: Record<string, string>): Promise<{ headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('response compression', () => {
  let url: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const started = await runningServer('sqlite');
    url = started.server.url;
    cleanup = started.cleanup;
    for (let i = 0; i < 40; i += 1) {
      const response = await fetch(`${url}/v1/agents`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ agent_name: `agent-${i}.compression.example`, owner: 'compression', capabilities: ['a', 'b'], description: 'x'.repeat(300) }),
      });
      expect(response.status).toBe(201);
    }
  });
  afterAll(() => cleanup());

  it('sends a resolve answer uncompressed even to a client that accepts gzip', async () => {
    const answer = await post(url, '/atr.v1.ResolveService/ResolveAgent', JSON.stringify({ agentName: 'agent-0.compression.example' }), { 'accept-encoding': 'gzip' });
    expect(answer.headers['content-encoding']).toBeUndefined();
    expect(answer.body.length).toBeGreaterThan(1024);
    expect(JSON.parse(answer.body.toString())).toMatchObject({ agentName: 'agent-0.compression.example' });
  });

  it('gzips a listing past 16 KiB for a client that accepts it', async () => {
    const answer = await post(url, '/atr.v1.RegistryService/ListAgents', JSON.stringify({ owner: 'compression', limit: 100 }), { 'accept-encoding': 'gzip' });
    expect(answer.headers['content-encoding']).toBe('gzip');
    const listing = JSON.parse(gunzipSync(answer.body).toString()) as { agents: unknown[] };
    expect(listing.agents).toHaveLength(40);
    expect(gunzipSync(answer.body).length).toBeGreaterThan(16 * 1024);
  });
});
