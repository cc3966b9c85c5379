import http2 from 'node:http2';
import type { Server as NetServer, Socket } from 'node:net';
import tls, { type SecureContextOptions, type TLSSocket } from 'node:tls';
import { type Logger, silentLogger } from '../log/logger.ts';
import { ConnectionGuard, defaultMaxConnections } from './connection-guard.ts';
import { HttpHandover } from './http-handover.ts';
import { type HttpHandler, createHttp1Server } from './http1-server.ts';
import { Http2SessionPolicy } from './http2-session-policy.ts';
import { Http2Sessions } from './http2-sessions.ts';

// The handler type of every listener, declared beside the HTTP/1.1 server; importers of the listener find it here.
export type { HttpHandler } from './http1-server.ts';

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
  // How long a new connection may take to send its first bytes (HTTP/1.1) or its HTTP/2 preface, or with `tls` to
  // finish its TLS handshake.
  handshakeTimeoutMs?: number;
  // Where errors past start-up are reported.
  logger?: Logger;
  // TLS on the port (HTTP/2 by ALPN, else HTTP/1.1) instead of HTTP/1.1 and h2c.
  tls?: TlsCredentials;
}

/** What a TLS listener presents: SecureContext options known at start or later, replaced on each renewal. */
export interface TlsCredentials {
  /** The first options; a connection accepted before they are known waits for them, unread. */
  readonly ready: Promise<SecureContextOptions>;
  /** Calls `use` with the options of every later renewal. */
  onRenewed(use: (options: SecureContextOptions) => void): void;
}

export interface Listener {
  port: number;
  url: string;
  close(): Promise<void>;
}

// RFC 9113 §3.4: a client with prior knowledge opens with this exact preface; HTTP/1.x never can.
const h2Preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

// The listener is public-facing: a client gets 10 s to send its first bytes (HTTP/1.1 has the limits of
// createHttp1Server); HTTP/2 caps concurrent streams per connection, and its sessions have the limits of
// Http2SessionPolicy.
const limits = {
  handshakeTimeoutMs: 10_000,
  maxConcurrentStreams: 250,
  graceMs: 5_000,
};

/**
 * The public listener: cleartext HTTP/1.1 and h2c on one port, or TLS (ALPN h2 and http/1.1) with `tls`. Either way
 * every connection is first admitted by the connection guard and tracked, so close() can end them all.
 */
export async function listen(options: ListenOptions): Promise<Listener> {
  const guard = options.connections ?? new ConnectionGuard({ maxConnections: defaultMaxConnections(), maxPerClient: Infinity });
  const policy = options.sessions ?? new Http2SessionPolicy();
  const sockets = new Set<{ destroy(): void }>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  let closing: Promise<void> | undefined;
  const served = options.tls === undefined ? cleartextPort(options, policy, () => closing !== undefined) : tlsPort(options, options.tls, policy, track);
  served.server.on('connection', (socket: Socket) => {
    if (!guard.admit(socket)) return;
    track(socket);
    served.accept(socket);
  });

  await new Promise<void>((resolve, reject) => {
    served.server.once('error', reject);
    served.server.listen(options.port, options.host, () => {
      served.server.off('error', reject);
      // Past start-up an error (EMFILE on accept, ...) is worth a log line, not the process.
      served.server.on('error', (error) => (options.logger ?? silentLogger).error({ err: error }, 'listener error'));
      resolve();
    });
  });
  const { host, port } = boundAddress(served.server);
  const close = () => {
    closing ??= closeGracefully(served.server, served.sessions(), sockets, options.graceMs ?? limits.graceMs).finally(served.stop);
    return closing;
  };
  return { port, url: `${options.tls === undefined ? 'http' : 'https'}://${host}:${port}`, close };
}

/** A server that owns the port, what it does with an admitted connection, its open HTTP/2 sessions. */
interface ServedPort {
  readonly server: NetServer;
  accept(socket: Socket): void;
  sessions(): Iterable<{ close(): void }>;
  stop(): void;
}

// One TCP port for HTTP/1.1 and h2c with prior knowledge. The HTTP/1 server owns the port, so its connection
// tracking, timeouts and close() work as usual; its connection listener is replaced with a sniffer that hands
// connections opening with the HTTP/2 preface to an HTTP/2 server instead (Node re-reads the bytes the sniffer
// pushed back, nodejs/node#41185).
function cleartextPort(options: ListenOptions, policy: Http2SessionPolicy, closing: () => boolean): ServedPort {
  const h1 = createHttp1Server(options.handler);
  const h2 = http2.createServer({ settings: { maxConcurrentStreams: limits.maxConcurrentStreams } }, options.handler);
  const sessions = new Http2Sessions(h2, policy);
  const serveHttp1 = takeConnectionListener(h1);
  const serveHttp2 = (socket: Socket) => {
    // node:http accepts half-open capable sockets (allowHalfOpen), but an HTTP/2 session ends its connection only
    // through the socket ending itself when the peer's FIN arrives; with half-open allowed it never did, and every
    // h2c connection a client closed without GOAWAY stayed in CLOSE_WAIT, holding its descriptor, for good.
    socket.allowHalfOpen = false;
    const session = sessions.hand(socket, 'connection');
    if (closing()) session?.close();
  };
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? limits.handshakeTimeoutMs;
  return {
    server: h1,
    accept: (socket) => sniff(socket, handshakeTimeoutMs, (isH2) => (isH2 ? serveHttp2(socket) : serveHttp1(socket))),
    sessions: () => sessions.open,
    stop: () => {},
  };
}

// TLS on one port: the TLS server owns the port and hands each connection, once its handshake is done, to the
// HTTP/2 or HTTP/1.1 server its ALPN protocol names (http-handover.ts, as on the mTLS listener). Its SecureContext
// is set when the credentials are known and replaced on every renewal.
function tlsPort(options: ListenOptions, credentials: TlsCredentials, policy: Http2SessionPolicy, track: (socket: TLSSocket) => void): ServedPort {
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? limits.handshakeTimeoutMs;
  const server = tls.createServer({ ALPNProtocols: ['h2', 'http/1.1'], handshakeTimeout: handshakeTimeoutMs });
  const serveTls = takeConnectionListener(server);
  const handover = new HttpHandover(options.handler, policy);
  server.on('secureConnection', (socket: TLSSocket) => {
    track(socket);
    handover.serve(socket);
  });
  let ready = false;
  const first = credentials.ready.then((context) => {
    server.setSecureContext(context);
    ready = true;
  });
  credentials.onRenewed((context) => server.setSecureContext(context));
  return {
    server,
    accept(socket) {
      if (ready) return serveTls(socket);
      // Held unread until the first credentials, within the handshake timeout like any other connection.
      socket.on('error', () => socket.destroy());
      socket.setTimeout(handshakeTimeoutMs, () => socket.destroy());
      void first.then(() => {
        socket.setTimeout(0);
        if (!socket.destroyed) serveTls(socket);
      });
    },
    sessions: () => handover.openSessions(),
    stop: () => handover.close(),
  };
}

/** Removes the server's own connection listener, for the caller to call once it has admitted a connection. */
function takeConnectionListener(server: NetServer): (socket: Socket) => void {
  const [serve] = server.listeners('connection');
  if (serve === undefined) throw new Error('server has no connection listener');
  server.removeAllListeners('connection');
  return (socket) => Reflect.apply(serve, server, [socket]);
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
