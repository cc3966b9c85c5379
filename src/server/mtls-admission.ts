import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log/logger.ts';
import type { RegistryStore } from '../registry/store.ts';
import type { PeerAgent } from '../services/context.ts';
import { RefusalAudit } from '../audit/refusal-audit.ts';
import type { MtlsCrl } from './mtls-crl.ts';
import { type PresentedCertificate, type Refusal, checkPeer, presentedCertificate, screenPeer } from './peer-check.ts';

/** How long a connection refused on a re-check may take to finish its requests in flight. */
const DRAIN_MS = 2000;

const peerAgentSymbol = Symbol('atr.mtls.peerAgent');

const noCertificate: Refusal = { accepted: false, reason: 'no_certificate', fingerprint: '', agentName: '' };

/** The agent an mTLS request's connection was accepted as (HTTP/1.1 and HTTP/2 alike). */
export function peerAgentOfRequest(req: IncomingMessage | Http2ServerRequest): PeerAgent | undefined {
  // For HTTP/2, req.socket is a proxy that reads properties from the session's TLS socket.
  return Reflect.get(req.socket, peerAgentSymbol) as PeerAgent | undefined;
}

/**
 * Which connections the mTLS listener serves: each one, new or resumed, is checked (OpenSSL's verdict on the chain,
 * the certificate's shape, registry state, the CRLs) before any byte of it is read, and again whenever the CRL
 * changes while it is open. A refused connection is counted and audited (bounded) by its reason, and closed: at
 * once, or after its requests in flight when it is already being served.
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
    private readonly crl: MtlsCrl,
    private readonly logger: Logger,
    /** Closes a connection that is being served once its requests in flight are answered (HttpHandover). */
    private readonly closeAfterInFlight: (socket: TLSSocket) => void,
  ) {
    this.audit = new RefusalAudit(store, 'mTLS connection', logger);
  }

  /** Checks a connection whose handshake completed; true when it may be served, and then it is re-checked until it closes. */
  async admit(socket: TLSSocket): Promise<boolean> {
    // Refused here, before the first await, a connection closes before OpenSSL sends it a session ticket.
    const certificate = presentedCertificate(socket);
    if (certificate === undefined) {
      this.refuse(socket, noCertificate);
      return false;
    }
    const screened = screenPeer(certificate);
    if (screened !== undefined) {
      this.refuse(socket, screened);
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

  /** Counts a connection refused here, or one whose handshake failed before a certificate was seen (`handshake:<code>`). */
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
    const result = await checkPeer(this.store, certificate, this.crl);
    if (!result.accepted) {
      this.refuse(socket, result);
      return false;
    }
    Reflect.set(socket, peerAgentSymbol, result.agent);
    return true;
  }

  private refuse(socket: TLSSocket, { reason, fingerprint, agentName, chainError }: Refusal): void {
    const address = socket.remoteAddress ?? 'unknown';
    this.countRefusal(reason);
    // Without a certificate, the client's address is all there is to tell refusals apart.
    this.audit.record(`${reason}\u0000${fingerprint || address}`, {
      eventType: 'cert.verified',
      actor: `mtls@${address}`,
      agentName,
      metadata: { kind: 'mtls', verified: false, reason, fingerprint, ...(chainError && { chainError }) },
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
