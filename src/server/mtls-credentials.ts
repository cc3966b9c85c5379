import { constants as cryptoConstants } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from '../log/logger.ts';
import { RenewingServerCertificate } from '../pki/server-certificate.ts';
import type { App } from './app.ts';
import { TicketKeys } from './mtls-ticket-keys.ts';

const SERVER_CERTIFICATE_DAYS = 7;

/**
 * What the mTLS listener presents and checks with: its own server certificate, issued by the registry and renewed
 * at two thirds of its lifetime, the CA chains agents must chain to (every intermediate not yet expired, so both
 * sides of a rotation), and the session-ticket keys every process of the registry shares. No CRL: given one, OpenSSL looks up and verifies the CRLs of the whole chain on every handshake
 * (Node turns on CRL_CHECK_ALL); the listener checks the CRLs itself (mtls-crl.ts).
 */
export class MtlsCredentials {
  private rotationTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly app: App,
    private readonly logger: Logger,
    private readonly ticketKeys: TicketKeys,
    private readonly serverCertificate: RenewingServerCertificate,
  ) {}

  static async load(app: App, hostnames: readonly string[], logger: Logger): Promise<MtlsCredentials> {
    const certificate = await RenewingServerCertificate.issue(app.ca, { hostnames, validityDays: SERVER_CERTIFICATE_DAYS });
    return new MtlsCredentials(app, logger, TicketKeys.load(app.config.pkiRootDir, logger), certificate);
  }

  /** The options of a SecureContext: created at start, on each renewal and rotation only, since creating one is costly. */
  secureContext(): SecureContextOptions {
    return {
      key: this.serverCertificate.current.keyPem,
      cert: this.serverCertificate.current.chainPem,
      // Every intermediate still in use: agents keep certificates from the one before a rotation until they expire.
      ca: [this.app.ca.rootPem, ...this.app.ca.intermediates.map((intermediate) => intermediate.pem)],
      minVersion: 'TLSv1.2',
      // TLS 1.2 lets a client ask for a new handshake on an open connection: each costs the server a full
      // handshake and re-verification, and nothing here needs one (TLS 1.3 has none).
      secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION,
      // Passed every time: a SecureContext made without them gets random ones, and every ticket out there dies.
      ticketKeys: this.ticketKeys.keysAt(),
      sessionIdContext: this.ticketKeys.sessionIdContext(),
    };
  }

  /** Hands `rotate` the next ticket keys at each rotation, for as long as the listener runs. */
  startTicketRotation(rotate: (keys: Buffer) => void): void {
    this.rotationTimer = setTimeout(() => {
      rotate(this.ticketKeys.keysAt());
      this.startTicketRotation(rotate);
    }, this.ticketKeys.untilRotation());
    this.rotationTimer.unref();
  }

  /** Renews the server certificate at two thirds of its lifetime, for as long as the listener runs. */
  startRenewal(onRenewed: () => void): void {
    this.serverCertificate.start(onRenewed, (error) => this.logger.error({ err: error }, 'cannot renew the server certificate'));
  }

  stop(): void {
    this.serverCertificate.stop();
    clearTimeout(this.rotationTimer);
  }
}
