// Cross-origin calls from browsers (CORS_ALLOWED_ORIGINS): preflights answered for every route (Connect, gRPC-Web,
// REST) with connect-es's own header lists plus the registry's, and the response headers a page may read. An origin
// not listed gets no Access-Control-* header at all, so the browser keeps the answer from the page.
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import { cors } from '@connectrpc/connect';
import type { HttpHandler } from './listener.ts';

export interface CorsPolicy {
  /** Exact origins (scheme://host[:port]); `*` lets any page call, but only anonymously (no key header is allowed). */
  readonly allowedOrigins: readonly string[];
  /** The header that carries an API key (API_KEY_HEADER). */
  readonly apiKeyHeader: string;
}

/** How long a browser may keep a preflight's answer. */
const PREFLIGHT_MAX_AGE_SECONDS = 7200;
const ALLOWED_METHODS = [...new Set([...cors.allowedMethods, 'GET', 'POST', 'PATCH', 'DELETE'])];
const EXPOSED_HEADERS = [...new Set([...cors.exposedHeaders, 'atr-error-code', 'retry-after', 'x-request-id', 'grpc-status', 'grpc-message'])];

/** `handler` with CORS in front of it; the handler itself when no origin is allowed (same-origin only). */
export function withCors(handler: HttpHandler, policy: CorsPolicy): HttpHandler {
  if (policy.allowedOrigins.length === 0) return handler;
  const exact = new Set(policy.allowedOrigins.filter((origin) => origin !== '*'));
  const anyOrigin = policy.allowedOrigins.includes('*');
  const keyHeaders = [policy.apiKeyHeader.toLowerCase(), 'authorization'];
  const headersFor = (origin: string) => [...cors.allowedHeaders, 'x-request-id', ...(exact.has(origin) ? keyHeaders : [])];
  return (req, res) => {
    const origin = req.headers.origin;
    if (typeof origin !== 'string' || !(exact.has(origin) || anyOrigin)) return handler(req, res);
    // A listed origin is named back (with Vary, so caches keep answers per origin); `*` is answered as `*`.
    const allowOrigin = exact.has(origin) ? origin : '*';
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      preflight(res, allowOrigin, headersFor(origin));
      return;
    }
    res.setHeader('access-control-allow-origin', allowOrigin);
    res.setHeader('vary', 'Origin');
    res.setHeader('access-control-expose-headers', EXPOSED_HEADERS.join(', '));
    return handler(req, res);
  };
}

function preflight(res: ServerResponse | Http2ServerResponse, allowOrigin: string, allowedHeaders: readonly string[]): void {
  res.writeHead(204, {
    'access-control-allow-origin': allowOrigin,
    'access-control-allow-methods': ALLOWED_METHODS.join(', '),
    'access-control-allow-headers': allowedHeaders.join(', '),
    'access-control-max-age': String(PREFLIGHT_MAX_AGE_SECONDS),
    vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
  });
  res.end();
}
