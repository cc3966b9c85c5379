import type http from 'node:http';
import http2, { type ServerHttp2Session } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Http2SessionPolicy } from './http2-session-policy.ts';
import { Http2Sessions } from './http2-sessions.ts';
import { type HttpHandler, createHttp1Server } from './http1-server.ts';

const MAX_CONCURRENT_STREAMS = 250;

/**
 * The HTTP servers behind a TLS listener. They never listen: the listener hands them each connection it has accepted
 * and admitted, and the connection's ALPN protocol picks HTTP/2 or HTTP/1.1.
 */
export class HttpHandover {
  private readonly h2: Http2Sessions;
  private readonly h1: http.Server;
  // The session of each open HTTP/2 socket, and the requests in flight on each HTTP/1.1 one, so that a connection
  // refused on a re-check can finish the requests already in flight (a renewal's answer travels on the connection
  // its old certificate opened).
  private readonly sessionOfSocket = new WeakMap<TLSSocket, ServerHttp2Session>();
  private readonly http1InFlight = new WeakMap<TLSSocket, number>();
  private readonly http1Closing = new WeakSet<TLSSocket>();

  constructor(handler: HttpHandler, policy: Http2SessionPolicy) {
    this.h2 = new Http2Sessions(http2.createSecureServer({ settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS } }, handler), policy);
    this.h1 = createHttp1Server(handler);
    // node:http enforces its header and request timeouts from a connection list it sets up when it starts listening;
    // this one never listens (the TLS server accepts), so it is told it does.
    this.h1.emit('listening');
    this.h1.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const socket = req.socket as TLSSocket;
      this.http1InFlight.set(socket, (this.http1InFlight.get(socket) ?? 0) + 1);
      if (this.http1Closing.has(socket)) res.shouldKeepAlive = false;
      res.once('close', () => {
        const left = (this.http1InFlight.get(socket) ?? 1) - 1;
        this.http1InFlight.set(socket, left);
        if (left === 0 && this.http1Closing.has(socket)) socket.destroy();
      });
    });
  }

  serve(socket: TLSSocket): void {
    if (socket.alpnProtocol !== 'h2') {
      // HTTP/1.1 goes to a node:http server of its own: http2's fallback has none of its timeouts, so an idle or
      // half-sent request would hold the connection for good.
      this.h1.emit('connection', socket);
      return;
    }
    const session = this.h2.hand(socket, 'secureConnection');
    if (session !== undefined) this.sessionOfSocket.set(socket, session);
  }

  /**
   * Closes a connection without cutting the requests in flight on it: HTTP/2 gets GOAWAY (the streams open finish,
   * no new one starts); HTTP/1.1 closes once its current response is sent, at once when it is idle. The caller caps
   * how long that may take.
   */
  closeAfterInFlight(socket: TLSSocket): void {
    const session = this.sessionOfSocket.get(socket);
    if (session !== undefined) {
      session.close();
      return;
    }
    this.http1Closing.add(socket);
    if ((this.http1InFlight.get(socket) ?? 0) === 0) socket.destroy();
  }

  /** The open HTTP/2 sessions, as they are when iterated. */
  openSessions(): Iterable<ServerHttp2Session> {
    return this.h2.open;
  }

  /** Closes idle HTTP/1.1 connections and stops the timeout checks (the server has no port of its own to close). */
  close(): void {
    this.h1.close(() => {});
  }
}
