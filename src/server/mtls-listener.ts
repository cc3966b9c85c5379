import type { Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import type { Logger } from '../log/logger.ts';
import type { App } from './app.ts';
import { ConnectionGuard, defaultMaxConnections } from './connection-guard.ts';
import { HttpHandover } from './http-handover.ts';
import { Http2SessionPolicy } from './http2-session-policy.ts';
import { MtlsAdmission } from './mtls-admission.ts';
import { MtlsCredentials } from './mtls-credentials.ts';
import { MtlsCrl } from './mtls-crl.ts';
import { type HttpHandler, boundAddress, closeGracefully } from './listener.ts';

export interface MtlsListenOptions {
  readonly host: string;
  readonly port: number;
  /** DNS names and IP addresses for the server certificate. */
  readonly hostnames: readonly string[];
  readonly app: App;
  /** Serves the requests of accepted connections; peerAgentOfRequest(req) (mtls-admission.ts) names their agent. */
  readonly handler: HttpHandler;
  /** How often the CRL is re-read; a new one re-checks open connections. */
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
  /** Refused connections so far, by reason (handshakes that failed before a certificate was seen as `handshake:<code>`). */
  refusals(): Record<string, number>;
  close(): Promise<void>;
}

const limits = { handshakeTimeoutMs: 10_000, graceMs: 5_000, refreshMs: 1_000 };

/**
 * The mTLS listener. OpenSSL verifies the client's chain against the registry CA during the handshake; every
 * connection, new or resumed from a session ticket, is then admitted on OpenSSL's verdict, registry state and the
 * CRLs (mtls-admission.ts) before any byte of it is read, and handed to HTTP servers that never listen themselves
 * (http-handover.ts). A refused connection is destroyed without a response.
 */
export async function startMtlsListener(options: MtlsListenOptions): Promise<MtlsListener> {
  const { app } = options;
  const logger = app.logger.child({ component: 'mtls-listener' });
  const credentials = await MtlsCredentials.load(app, options.hostnames, logger);
  const crl = await MtlsCrl.load(app, logger);
  const guard = options.connections ?? new ConnectionGuard({ maxConnections: defaultMaxConnections(), maxPerClient: Infinity });
  const server = createTlsServer(credentials, guard, options.handshakeTimeoutMs ?? limits.handshakeTimeoutMs);
  const handover = new HttpHandover(options.handler, options.sessions ?? new Http2SessionPolicy());
  const admission = new MtlsAdmission(app.store, crl, logger, (socket) => handover.closeAfterInFlight(socket));
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.on('error', () => socket.destroy());
    // The socket is not read until it is handed over, so bytes sent meanwhile wait in its buffer.
    void admission
      .admit(socket)
      .then((accepted) => accepted && handover.serve(socket))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'cannot hand the connection over to HTTP');
        socket.destroy();
      });
  });
  server.on('tlsClientError', (error: NodeJS.ErrnoException) => admission.countRefusal(`handshake:${error.code ?? 'error'}`));

  const stopFollowing = followRevocations({ app, crl, admission, logger, everyMs: options.refreshMs ?? limits.refreshMs });
  credentials.startRenewal(() => server.setSecureContext(credentials.secureContext()));
  credentials.startTicketRotation((keys) => server.setTicketKeys(keys));
  // A rotated intermediate (by any process: the CA's own refresh finds it) is trusted for new handshakes at once.
  const stopWatchingCa = app.ca.watch({ changed: () => server.setSecureContext(credentials.secureContext()) });
  const stopBackground = () => {
    stopFollowing();
    stopWatchingCa();
    credentials.stop();
  };
  await listenOn(server, options, logger).catch((error: unknown) => {
    stopBackground();
    throw error;
  });
  const { host, port } = boundAddress(server);

  let closing: Promise<void> | undefined;
  const close = () => {
    if (!closing) {
      stopBackground();
      handover.close();
      closing = closeGracefully(server, handover.openSessions(), admission.openConnections(), options.graceMs ?? limits.graceMs);
    }
    return closing;
  };
  return { port, url: `https://${host}:${port}`, refusals: () => admission.refusals(), close };
}

/** A TLS server that asks for client certificates; over a connection cap, a socket is closed before TLS starts on it. */
function createTlsServer(credentials: MtlsCredentials, guard: ConnectionGuard, handshakeTimeoutMs: number): tls.Server {
  const server = tls.createServer({
    ...credentials.secureContext(),
    requestCert: true,
    // Node's rejectUnauthorized too lets OpenSSL finish the handshake and only then destroys the socket, where its
    // verdict is lost (counted as handshake:ECONNRESET). The admission refuses at the same point, before any byte is
    // read and before a session ticket is sent, and counts and audits the refusal by OpenSSL's reason.
    rejectUnauthorized: false,
    ALPNProtocols: ['h2', 'http/1.1'],
    handshakeTimeout: handshakeTimeoutMs,
  });
  // Closed before the TLS server sees it: no handshake work, no tlsClientError.
  const [serveTls] = server.listeners('connection');
  if (serveTls === undefined) throw new Error('node:tls server has no connection listener');
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    if (guard.admit(socket)) Reflect.apply(serveTls, server, [socket]);
  });
  return server;
}

interface RevocationFollower {
  readonly app: App;
  readonly crl: MtlsCrl;
  readonly admission: MtlsAdmission;
  readonly logger: Logger;
  readonly everyMs: number;
}

/**
 * Every retirement, made by this process or any other on the same database, reaches the revocation feed within about
 * a quarter second; the feed invalidates the revocation list, and this refresh reads the new CRL and re-checks open
 * connections. The timer is a backstop. Returns the function that stops both.
 */
function followRevocations({ app, crl, admission, logger, everyMs }: RevocationFollower): () => void {
  let refreshing = false;
  const refresh = async () => {
    if (refreshing) return;
    refreshing = true;
    try {
      if (!(await crl.refresh())) return;
      await admission.recheckOpen();
    } catch (error) {
      logger.error({ err: error }, 'cannot refresh the CRL');
    } finally {
      refreshing = false;
    }
  };
  const timer = setInterval(() => void refresh(), everyMs);
  timer.unref();
  const unsubscribe = app.revocations.subscribe(() => void refresh());
  return () => {
    clearInterval(timer);
    unsubscribe();
  };
}

/** Listens; past start-up, an error (EMFILE on accept, ...) is worth a log line, not the process. */
function listenOn(server: tls.Server, { port, host }: Pick<MtlsListenOptions, 'port' | 'host'>, logger: Logger): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      server.on('error', (error) => logger.error({ err: error }, 'listener error'));
      resolve();
    });
  });
}
