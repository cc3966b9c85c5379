import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

export type HttpHandler = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
) => void;

// A client gets 20 s for its headers, a minute for the whole request body; idle connections are kept for 5 s.
const limits = {
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  checkIntervalMs: 2_000,
};

/**
 * An HTTP/1.1 server with the public-facing limits (headers within 20 s, a request within a minute, 5 s keep-alive),
 * for connections a listener accepts itself and hands over.
 */
export function createHttp1Server(handler: HttpHandler): http.Server {
  return http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs,
    },
    handler,
  );
}
