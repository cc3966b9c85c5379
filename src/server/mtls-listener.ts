import { constants as cryptoConstants } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import http2, { type Http2ServerRequest, type ServerHttp2Session } from 'node:http2';
import tls, { type SecureContextOptions, type TLSSocket } from 'node:tls';
import { toPem } from '../pki/pem.ts';
import { emptyRootCrl } from '../pki/root-crl.ts';
import { type ServerCertificate, issueServerCertificate } from '../pki/server-certificate.ts';
import type { PeerAgent } from '../services/context.ts';
import type { App } from './app.ts';
import { ConnectionGuard, defaultMaxConnections } from './connection-guard.ts';
import { Http2SessionPolicy } from './http2-session-policy.ts';
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

const SERVER_CERTIFICATE_DAYS = 7;
const RETRY_MS = 60_000;
// setTimeout's limit; later renewals are rescheduled from there.
const MAX_TIMER_MS = 2 ** 31 - 1;
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
  // MTLS_CRL_CHECK=false leaves revocation to the registry-state check alone: OpenSSL's CRL checks (Node turns on
  // CRL_CHECK_ALL, so both CRLs are looked up and their signatures verified on every handshake) cost handshake rate.
  const rootCrl = app.config.mtlsCrlCheck
    ? await emptyRootCrl(app.ca, app.config.pkiRootDir, app.config.caKeyPassphrase)
    : undefined;
  if (rootCrl === undefined && app.config.mtlsCrlCheck) {
    logger.warn({}, 'root.key is not in PKI_ROOT_DIR, so OpenSSL gets no CRLs; the registry check alone refuses revoked certificates');
  }
  const issue = () => issueServerCertificate(app.ca, { hostnames: options.hostnames, validityDays: SERVER_CERTIFICATE_DAYS });
  let serverCertificate = await issue();
  let crl = await app.revocationList.current();
  const secureContext = (): SecureContextOptions => ({
    key: serverCertificate.keyPem,
    cert: serverCertificate.chainPem,
    ca: [app.ca.rootPem, app.ca.intermediatePem],
    ...(rootCrl && { crl: [toPem(rootCrl, 'X509 CRL'), toPem(crl, 'X509 CRL')] }),
    minVersion: 'TLSv1.2',
    // TLS 1.2 lets a client ask for a new handshake on an open connection: each costs the server a full handshake
    // and re-verification, and nothing here needs one (TLS 1.3 has none).
    secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION,
  });

  const server = tls.createServer({
    ...secureContext(),
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
    const crlSeen = crl;
    admit(socket, certificate).then(
      async (accepted) => {
        if (!accepted || socket.destroyed) return;
        open.set(socket, certificate);
        socket.once('close', () => open.delete(socket));
        // A CRL change while the check ran may have re-checked the open connections without this one.
        if (crl !== crlSeen && !(await admit(socket, certificate))) return;
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
      const next = await app.revocationList.current();
      if (next.equals(crl)) return;
      crl = next;
      server.setSecureContext(secureContext());
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

  // The server certificate is renewed at two thirds of its lifetime.
  let renewalTimer: NodeJS.Timeout | undefined;
  const renewAt = ({ notBefore, notAfter }: ServerCertificate) =>
    notBefore.getTime() + ((notAfter.getTime() - notBefore.getTime()) * 2) / 3;
  const scheduleRenewal = (delayMs: number) => {
    renewalTimer = setTimeout(() => void renew(), Math.min(Math.max(delayMs, 0), MAX_TIMER_MS));
    renewalTimer.unref();
  };
  const renew = async () => {
    if (Date.now() < renewAt(serverCertificate)) return scheduleRenewal(renewAt(serverCertificate) - Date.now());
    try {
      serverCertificate = await issue();
      server.setSecureContext(secureContext());
      scheduleRenewal(renewAt(serverCertificate) - Date.now());
    } catch (error) {
      logger.error({ err: error }, 'cannot renew the server certificate');
      scheduleRenewal(RETRY_MS);
    }
  };
  scheduleRenewal(renewAt(serverCertificate) - Date.now());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      server.on('error', (error) => logger.error({ err: error }, 'listener error'));
      resolve();
    });
  }).catch((error: unknown) => {
    clearInterval(refreshTimer);
    clearTimeout(renewalTimer);
    unsubscribe();
    throw error;
  });
  const { host, port } = boundAddress(server);

  let closing: Promise<void> | undefined;
  const close = () => {
    if (!closing) {
      clearInterval(refreshTimer);
      clearTimeout(renewalTimer);
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
