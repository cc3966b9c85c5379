// CORS on the public listener, as a browser would exercise it: preflights, then the real call with an Origin.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runningServer } from '../support/server.ts';

const APP = 'http://127.0.0.1:5173';
let context: Awaited<ReturnType<typeof runningServer>>;
let open: Awaited<ReturnType<typeof runningServer>>;

beforeAll(async () => {
  context = await runningServer('sqlite', { corsAllowedOrigins: [APP], mtlsEnabled: false });
  open = await runningServer('sqlite', { corsAllowedOrigins: ['*'], mtlsEnabled: false });
});

afterAll(async () => {
  await context?.cleanup();
  await open?.cleanup();
});

const preflight = (base: string, path: string, origin: string, method = 'POST', headers = 'content-type, connect-protocol-version, x-api-key') =>
  fetch(`${base}${path}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers } });

describe('CORS', () => {
  it('answers a preflight from an allowed origin for Connect, gRPC-Web and REST routes', async () => {
    for (const [path, method] of [
      ['/atr.v1.ResolveService/ResolveAgent', 'POST'],
      ['/atr.v1.RegistryService/RegisterAgent', 'POST'],
      ['/v1/agents', 'POST'],
      ['/v1/resolve/a.example.com', 'GET'],
    ] as const) {
      const answer = await preflight(context.server.url, path, APP, method);
      expect(answer.status).toBe(204);
      expect(answer.headers.get('access-control-allow-origin')).toBe(APP);
      expect(answer.headers.get('access-control-allow-methods')).toContain(method);
      const allowed = (answer.headers.get('access-control-allow-headers') ?? '').toLowerCase();
      for (const header of ['content-type', 'connect-protocol-version', 'x-grpc-web', 'x-api-key', 'authorization']) expect(allowed).toContain(header);
      expect(answer.headers.get('access-control-allow-credentials')).toBeNull();
    }
  });

  it('gives another origin no Access-Control header, on the preflight or the call', async () => {
    const answer = await preflight(context.server.url, '/atr.v1.ResolveService/ResolveAgent', 'https://evil.example');
    expect([...answer.headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([]);
    const call = await fetch(`${context.server.url}/v1/resolve/nobody.example.com`, { headers: { origin: 'https://evil.example' } });
    expect([...call.headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([]);
  });

  it('lets an allowed page read the error code, request id and retry headers of an answer', async () => {
    const call = await fetch(`${context.server.url}/v1/resolve/nobody.example.com`, { headers: { origin: APP } });
    expect(call.status).toBe(404);
    expect(call.headers.get('access-control-allow-origin')).toBe(APP);
    expect(call.headers.get('vary')).toContain('Origin');
    const exposed = (call.headers.get('access-control-expose-headers') ?? '').toLowerCase();
    for (const header of ['atr-error-code', 'retry-after', 'grpc-status', 'grpc-message', 'x-request-id']) expect(exposed).toContain(header);
  });

  it('with *, any page may call anonymously but may not send an API key header', async () => {
    const answer = await preflight(open.server.url, '/atr.v1.ResolveService/ResolveAgent', 'https://anywhere.example', 'POST', 'content-type');
    expect(answer.status).toBe(204);
    expect(answer.headers.get('access-control-allow-origin')).toBe('*');
    const allowed = (answer.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    expect(allowed).toContain('content-type');
    expect(allowed).not.toContain('x-api-key');
    expect(allowed).not.toContain('authorization');
  });

  it('without CORS_ALLOWED_ORIGINS a preflight is not answered for any origin', async () => {
    const closed = await runningServer('sqlite', { mtlsEnabled: false });
    try {
      const answer = await preflight(closed.server.url, '/atr.v1.ResolveService/ResolveAgent', APP);
      expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await closed.cleanup();
    }
  });
});
