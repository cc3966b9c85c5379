import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import http2, { type Http2ServerRequest, type ServerHttp2Session } from 'node:http2';
import tls, { type TLSSocket } from 'node:tls';
import type { PeerAgent } from '../services/context.ts';
import type { App } from './app.ts';
import { ConnectionGuard, defaultMaxConnections } from './connection-guard.ts';
import { Http2SessionPolicy } from './http2-session-policy.ts';
import { MtlsCredentials } from './mtls-credentials.ts';
import { type HttpHandler, boundAddress, closeGracefully, createHttp1Server } from './listener.ts';
import { type PresentedCertificate, checkPeer, presentedCertificate } from './peer-check.ts';
import { RefusalAudit } from '../audit/refusal-audit.ts';

export interface MtlsListenOptions {
  readonly host: string;
  readonly port: number;
  /** DNS names and IP addresses for the server certificate. */
  readonly hostnames: readonly string[];
  readonly app: App;
  /** Serves the requests of accepted connections; peerAgentOfRequest(req) names their agent. */
  readonly handler: HttpHandler;
  /** How often the CRL is re-read; a change refreshes the TLS context and re-checks open connections. */
  readonly refreshMs?: number;
  /** How long close() lets in-flight requests finish before it destroys their connections. */
  readonly graceMs?: number;
  /** Caps on open connections, shared with the public listener; by default this listener's own. */
  readonly connections?: ConnectionGuard;
  /** Handshake, idle, stalled-request and reset-rate limits of HTTP/2 sessions. */
  readonly sessions?: Http2SessionPolicy;
  /** How long a client may take to complete the TLS handshake. */
  readonly handshakeTimeoutMs?: number;
}

export interface MtlsListener {
  readonly port: number;
  readonly url: string;
  /** Refused connections so far, by reason (handshake failures as `handshake:<code>`). */
  refusals(): Record<string, number>;
  close(): Promise<void>;
}

const limits = { handshakeTimeoutMs: 10_000, maxConcurrentStreams: 250, graceMs: 5_000, refreshMs: 1_000, drainMs: 500 };

const peerAgentSymbol = Symbol('atr.mtls.peerAgent');

/** The agent an mTLS request's connection was accepted as (HTTP/1.1 and HTTP/2 alike). */
export function peerAgentOfRequest(req: IncomingMessage | Http2ServerRequest): PeerAgent | undefined {
  // For HTTP/2, req.socket is a proxy that reads properties from the session's TLS socket.
  return Reflect.get(req.socket, peerAgentSymbol) as PeerAgent | undefined;
}

/**
 * The mTLS listener. OpenSSL checks the client's chain against the registry CA and both CRLs during the handshake;
 * every connection it accepts is then checked against registry state before any byte of it is read, and handed to
 * an HTTP/2 server (HTTP/1.1 too) that never listens itself. A refused connection is destroyed without a response.
 */
export async function startMtlsListener(options: MtlsListenOptions): Promise<MtlsListener> {
  const { app } = options;
  const logger = app.logger.child({ component: 'mtls-listener' });
  const credentials = await MtlsCredentials.load(app, options.hostnames, logger);
  const server = tls.createServer({
    ...credentials.secureContext(),
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: ['h2', 'http/1.1'],
    handshakeTimeout: options.handshakeTimeoutMs ?? limits.handshakeTimeoutMs,
  });
  const guard = options.connections ?? new ConnectionGuard({ maxConnections: defaultMaxConnections(), maxPerClient: Infinity });
  const policy = options.sessions ?? new Http2SessionPolicy();
  // Over a cap, the connection is closed before TLS starts on it (no handshake work, no tlsClientError).
  const [serveTls] = server.listeners('connection');
  if (serveTls === undefined) throw new Error('node:tls server has no connection listener');
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    if (guard.admit(socket)) Reflect.apply(serveTls, server, [socket]);
  });
  const h2 = http2.createSecureServer({ settings: { maxConcurrentStreams: limits.maxConcurrentStreams } }, options.handler);
  const h1 = createHttp1Server(options.handler);
  // node:http enforces its header and request timeouts from a connection list it sets up when it starts listening;
  // this one never listens (the TLS server accepts), so it is told it does.
  h1.emit('listening');
  // Every HTTP/2 session (closed on shutdown), and the one of each open socket, so that a connection refused on a
  // re-check can finish the requests already in flight (a renewal's answer travels on the connection its old
  // certificate opened).
  const sessions = new Set<ServerHttp2Session>();
  const sessionOf = new WeakMap<TLSSocket, ServerHttp2Session>();
  let handingOver: TLSSocket | undefined;
  h2.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    if (handingOver) {
      sessionOf.set(handingOver, session);
      policy.apply(session, handingOver);
    }
  });
  // A broken HTTP/2 peer ends its own session; it must not take the process down.
  h2.on('sessionError', () => {});

  const refusals = new Map<string, number>();
  const audit = new RefusalAudit(app.store, 'mTLS connection', logger);
  const count = (reason: string) => refusals.set(reason, (refusals.get(reason) ?? 0) + 1);
  // Accepted connections with the certificate they were accepted for, re-checked whenever the CRL changes.
  const open = new Map<TLSSocket, PresentedCertificate>();

  const admit = async (socket: TLSSocket, certificate: PresentedCertificate): Promise<boolean> => {
    const result = await checkPeer(app.store, certificate);
    if (result.accepted) return Reflect.set(socket, peerAgentSymbol, result.agent);
    count(result.reason);
    const { reason, fingerprint, agentName } = result;
    audit.record(`${reason}\u0000${fingerprint}`, {
      eventType: 'cert.verified',
      actor: `mtls@${socket.remoteAddress ?? 'unknown'}`,
      agentName,
      metadata: { kind: 'mtls', verified: false, reason, fingerprint },
    });
    const session = sessionOf.get(socket);
    if (session) {
      // GOAWAY: no new streams; the ones in flight complete, then the session and its socket close.
      session.close();
      setTimeout(() => socket.destroy(), limits.drainMs).unref();
    } else {
      socket.destroy();
    }
    return false;
  };

  server.on('secureConnection', (socket: TLSSocket) => {
    socket.on('error', () => socket.destroy());
    const certificate = presentedCertificate(socket);
    if (certificate === undefined) {
      // rejectUnauthorized makes OpenSSL refuse this first; kept so that no path skips the check.
      count('no_certificate');
      socket.destroy();
      return;
    }
    // The socket is not read until the HTTP server attaches to it, so bytes sent meanwhile wait in its buffer.
    const crlSeen = credentials.currentCrl;
    admit(socket, certificate).then(
      async (accepted) => {
        if (!accepted || socket.destroyed) return;
        open.set(socket, certificate);
        socket.once('close', () => open.delete(socket));
        // A CRL change while the check ran may have re-checked the open connections without this one.
        if (credentials.currentCrl !== crlSeen && !(await admit(socket, certificate))) return;
        if (socket.alpnProtocol !== 'h2') {
          // HTTP/1.1 goes to a node:http server of its own: http2's fallback has none of its timeouts, so an idle
          // or half-sent request would hold the connection for good.
          h1.emit('connection', socket);
          return;
        }
        handingOver = socket;
        h2.emit('secureConnection', socket);
        handingOver = undefined;
      },
      (error: unknown) => {
        logger.error({ err: error }, 'registry check failed');
        count('check_failed');
        socket.destroy();
      },
    );
  });
  server.on('tlsClientError', (error: NodeJS.ErrnoException) => count(`handshake:${error.code ?? 'error'}`));

  // Every retirement, made by this process or any other on the same database, reaches the revocation feed within
  // about a quarter second; the feed invalidates the revocation list, and this refresh swaps the CRL and re-checks
  // open connections. The timer is a backstop.
  let refreshing = false;
  const refresh = async () => {
    if (refreshing) return;
    refreshing = true;
    try {
      if (!(await credentials.refreshCrl())) return;
      server.setSecureContext(credentials.secureContext());
      await Promise.all([...open].map(([socket, certificate]) => admit(socket, certificate)));
    } catch (error) {
      logger.error({ err: error }, 'cannot refresh the CRL');
    } finally {
      refreshing = false;
    }
  };
  const refreshTimer = setInterval(() => void refresh(), options.refreshMs ?? limits.refreshMs);
  refreshTimer.unref();
  const unsubscribe = app.revocations.subscribe(() => void refresh());

  credentials.startRenewal(() => server.setSecureContext(credentials.secureContext()));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      server.on('error', (error) => logger.error({ err: error }, 'listener error'));
      resolve();
    });
  }).catch((error: unknown) => {
    clearInterval(refreshTimer);
    credentials.stop();
    unsubscribe();
    throw error;
  });
  const { host, port } = boundAddress(server);

  let closing: Promise<void> | undefined;
  const close = () => {
    if (!closing) {
      clearInterval(refreshTimer);
      credentials.stop();
      unsubscribe();
      // Closes idle HTTP/1.1 connections and stops the timeout checks (it has no port of its own to close).
      h1.close(() => {});
      closing = closeGracefully(server, sessions, open.keys(), options.graceMs ?? limits.graceMs);
    }
    return closing;
  };
  return {
    port,
    url: `https://${host}:${port}`,
    refusals: () => Object.fromEntries(refusals),
    close,
  };
}
