import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { Server as NetServer, Socket } from 'node:net';
import { type Logger, silentLogger } from '../log/logger.ts';
import { ConnectionGuard, defaultMaxConnections } from './connection-guard.ts';
import { Http2SessionPolicy } from './http2-session-policy.ts';
import { Http2Sessions } from './http2-sessions.ts';

export type HttpHandler = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
) => void;

export interface ListenOptions {
  host: string;
  port: number;
  handler: HttpHandler;
  // How long close() lets in-flight requests and streams finish before it destroys their connections.
  graceMs?: number;
  // Caps on open connections, shared with the other listener of the process; by default this listener's own.
  connections?: ConnectionGuard;
  // Handshake, idle, stalled-request and reset-rate limits of HTTP/2 sessions.
  sessions?: Http2SessionPolicy;
  // How long a new connection may take to send its first bytes (HTTP/1.1) or its HTTP/2 preface.
  handshakeTimeoutMs?: number;
  // Where errors past start-up are reported.
  logger?: Logger;
}

export interface Listener {
  port: number;
  url: string;
  close(): Promise<void>;
}

// RFC 9113 §3.4: a client with prior knowledge opens with this exact preface; HTTP/1.x never can.
const h2Preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

// The listener is public-facing: a client gets 10 s to send its first bytes, 20 s for its headers, a minute for the
// whole request body; HTTP/1.1 keeps idle connections for 5 s; HTTP/2 caps concurrent streams per connection, and
// its sessions have the limits of Http2SessionPolicy.
const limits = {
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  checkIntervalMs: 2_000,
  maxConcurrentStreams: 250,
  graceMs: 5_000,
};

// One TCP port for HTTP/1.1 and h2c with prior knowledge. The HTTP/1 server owns the port, so its connection
// tracking, timeouts and close() work as usual; its connection listener is wrapped with a sniffer that hands
// connections opening with the HTTP/2 preface to an HTTP/2 server instead (Node re-reads the bytes the sniffer
// pushed back, nodejs/node#41185).
export async function listen(options: ListenOptions): Promise<Listener> {
  const h1 = createHttp1Server(options.handler);
  const h2 = http2.createServer({ settings: { maxConcurrentStreams: limits.maxConcurrentStreams } }, options.handler);
  const guard = options.connections ?? new ConnectionGuard({ maxConnections: defaultMaxConnections(), maxPerClient: Infinity });
  const policy = options.sessions ?? new Http2SessionPolicy();

  const sockets = new Set<Socket>();
  const sessions = new Http2Sessions(h2, policy);
  let closing: Promise<void> | undefined;

  const [serveHttp1] = h1.listeners('connection');
  if (serveHttp1 === undefined) throw new Error('node:http server has no connection listener');
  h1.removeAllListeners('connection');
  const serveHttp2 = (socket: Socket) => {
    // node:http accepts half-open capable sockets (allowHalfOpen), but an HTTP/2 session ends its connection only
    // through the socket ending itself when the peer's FIN arrives; with half-open allowed it never did, and every
    // h2c connection a client closed without GOAWAY stayed in CLOSE_WAIT, holding its descriptor, for good.
    socket.allowHalfOpen = false;
    const session = sessions.hand(socket, 'connection');
    if (closing !== undefined) session?.close();
  };
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? limits.handshakeTimeoutMs;
  h1.on('connection', (socket: Socket) => {
    if (!guard.admit(socket)) return;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    sniff(socket, handshakeTimeoutMs, (isH2) => (isH2 ? serveHttp2(socket) : Reflect.apply(serveHttp1, h1, [socket])));
  });

  await new Promise<void>((resolve, reject) => {
    h1.once('error', reject);
    h1.listen(options.port, options.host, () => {
      h1.off('error', reject);
      // Past start-up an error (EMFILE on accept, ...) is worth a log line, not the process.
      h1.on('error', (error) => (options.logger ?? silentLogger).error({ err: error }, 'listener error'));
      resolve();
    });
  });
  const { host, port } = boundAddress(h1);
  const close = () => {
    closing ??= closeGracefully(h1, sessions.open, sockets, options.graceMs ?? limits.graceMs);
    return closing;
  };
  return { port, url: `http://${host}:${port}`, close };
}

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

/** The port a server is bound to, and its host as it stands in a URL (IPv6 in brackets). */
export function boundAddress(server: Pick<NetServer, 'address'>): { host: string; port: number } {
  const bound = server.address();
  if (bound === null || typeof bound === 'string') throw new Error('listener is not bound to a TCP port');
  return { host: bound.address.includes(':') ? `[${bound.address}]` : bound.address, port: bound.port };
}

/**
 * Stops accepting, sends GOAWAY to every HTTP/2 session so requests in flight can finish, and destroys whatever
 * is still open after `graceMs`; resolves once the server has closed.
 */
export function closeGracefully(
  server: { close(callback: () => void): unknown },
  sessions: Iterable<{ close(): void }>,
  sockets: Iterable<{ destroy(): void }>,
  graceMs: number,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const closed = new Promise<void>((done) => server.close(() => done()));
    for (const session of sessions) session.close();
    const deadline = setTimeout(() => {
      for (const socket of sockets) socket.destroy();
    }, graceMs);
    deadline.unref();
    void closed.then(() => {
      clearTimeout(deadline);
      resolve();
    });
  });
}

// Reads just enough of the first bytes to tell the HTTP/2 preface from anything else, then puts them back.
function sniff(socket: Socket, timeoutMs: number, dispatch: (isH2: boolean) => void): void {
  let head = Buffer.alloc(0);
  const onSilence = () => socket.destroy();
  // node:http's sockets are half-open capable: one its client ended before saying anything would never close.
  const onEnd = () => socket.destroy();
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const n = Math.min(head.length, h2Preface.length);
    const isH2 = head.subarray(0, n).equals(h2Preface.subarray(0, n));
    if (isH2 && head.length < h2Preface.length) return;
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('timeout', onSilence);
    socket.setTimeout(0);
    socket.pause();
    socket.unshift(head);
    dispatch(isH2);
    // The HTTP/1 parser reads through the stream; the HTTP/2 session reads the pushed-back bytes itself and must
    // not see them flow past first.
    if (!isH2) socket.resume();
  };
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.on('error', () => socket.destroy());
  socket.setTimeout(timeoutMs);
  socket.on('timeout', onSilence);
}
