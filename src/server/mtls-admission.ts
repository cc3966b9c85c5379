import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log/logger.ts';
import type { RegistryStore } from '../registry/store.ts';
import type { PeerAgent } from '../services/context.ts';
import { RefusalAudit } from '../audit/refusal-audit.ts';
import { type PeerCheck, type PresentedCertificate, checkPeer, presentedCertificate } from './peer-check.ts';

/** How long a connection refused on a re-check may take to finish its requests in flight. */
const DRAIN_MS = 2000;

const peerAgentSymbol = Symbol('atr.mtls.peerAgent');

/** The agent an mTLS request's connection was accepted as (HTTP/1.1 and HTTP/2 alike). */
export function peerAgentOfRequest(req: IncomingMessage | Http2ServerRequest): PeerAgent | undefined {
  // For HTTP/2, req.socket is a proxy that reads properties from the session's TLS socket.
  return Reflect.get(req.socket, peerAgentSymbol) as PeerAgent | undefined;
}

type Refusal = Extract<PeerCheck, { accepted: false }>;

/**
 * Which connections the mTLS listener serves: each one OpenSSL accepted is checked against registry state before
 * any byte of it is read, and again whenever revocations change while it is open. A refused connection is counted,
 * audited (bounded) and closed: at once, or after its requests in flight when it is already being served.
 */
export class MtlsAdmission {
  private readonly refused = new Map<string, number>();
  private readonly audit: RefusalAudit;
  /** Accepted connections with the certificate they were accepted for. */
  private readonly open = new Map<TLSSocket, PresentedCertificate>();
  /** Bumped by every re-check of the open connections: a check that overlapped one re-checks its own connection. */
  private recheckRound = 0;

  constructor(
    private readonly store: RegistryStore,
    private readonly logger: Logger,
    /** Closes a connection that is being served once its requests in flight are answered (HttpHandover). */
    private readonly closeAfterInFlight: (socket: TLSSocket) => void,
  ) {
    this.audit = new RefusalAudit(store, 'mTLS connection', logger);
  }

  /** Checks a connection OpenSSL accepted; true when it may be served, and then it is re-checked until it closes. */
  async admit(socket: TLSSocket): Promise<boolean> {
    const certificate = presentedCertificate(socket);
    if (certificate === undefined) {
      // rejectUnauthorized makes OpenSSL refuse this first; kept so that no path skips the check.
      this.countRefusal('no_certificate');
      socket.destroy();
      return false;
    }
    const round = this.recheckRound;
    try {
      const accepted = await this.check(socket, certificate);
      if (!accepted || socket.destroyed) return false;
      this.open.set(socket, certificate);
      socket.once('close', () => this.open.delete(socket));
      // Open connections re-checked while this check ran were re-checked without this one.
      return this.recheckRound === round || (await this.check(socket, certificate));
    } catch (error) {
      // Either check: a database failure refuses the connection, it never takes the process down.
      this.logger.error({ err: error }, 'registry check failed');
      this.countRefusal('check_failed');
      socket.destroy();
      return false;
    }
  }

  /** Checks every open connection again (revocations changed); the refused ones are closed. */
  async recheckOpen(): Promise<void> {
    this.recheckRound += 1;
    await Promise.all([...this.open].map(([socket, certificate]) => this.check(socket, certificate)));
  }

  /** Counts a connection refused here or by the TLS handshake (as `handshake:<code>`). */
  countRefusal(reason: string): void {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
  }

  /** Refused connections so far, by reason. */
  refusals(): Record<string, number> {
    return Object.fromEntries(this.refused);
  }

  /** The connections accepted and still open, as they are when iterated. */
  openConnections(): Iterable<TLSSocket> {
    return this.open.keys();
  }

  /** One registry check: an accepted connection is tagged with its agent, a refused one refused. */
  private async check(socket: TLSSocket, certificate: PresentedCertificate): Promise<boolean> {
    const result = await checkPeer(this.store, certificate);
    if (!result.accepted) {
      this.refuse(socket, result);
      return false;
    }
    Reflect.set(socket, peerAgentSymbol, result.agent);
    return true;
  }

  private refuse(socket: TLSSocket, { reason, fingerprint, agentName }: Refusal): void {
    this.countRefusal(reason);
    this.audit.record(`${reason}\u0000${fingerprint}`, {
      eventType: 'cert.verified',
      actor: `mtls@${socket.remoteAddress ?? 'unknown'}`,
      agentName,
      metadata: { kind: 'mtls', verified: false, reason, fingerprint },
    });
    this.disconnect(socket);
  }

  private disconnect(socket: TLSSocket): void {
    if (!this.open.has(socket)) {
      // Refused at admission: no byte of it has been read.
      socket.destroy();
      return;
    }
    this.closeAfterInFlight(socket);
    setTimeout(() => socket.destroy(), DRAIN_MS).unref();
  }
}
