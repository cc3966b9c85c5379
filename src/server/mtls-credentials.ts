import { constants as cryptoConstants } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from '../log/logger.ts';
import { type ServerCertificate, issueServerCertificate } from '../pki/server-certificate.ts';
import type { App } from './app.ts';
import { TicketKeys } from './mtls-ticket-keys.ts';

const SERVER_CERTIFICATE_DAYS = 7;
const RETRY_MS = 60_000;
// setTimeout's limit; later renewals are rescheduled from there.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * What the mTLS listener presents and checks with: its own server certificate, issued by the registry and renewed
 * at two thirds of its lifetime, the CA chain agents must chain to, and the session-ticket keys every process of the
 * registry shares. No CRL: given one, OpenSSL looks up and verifies the CRLs of the whole chain on every handshake
 * (Node turns on CRL_CHECK_ALL); the listener checks the CRLs itself (mtls-crl.ts).
 */
export class MtlsCredentials {
  private renewalTimer: NodeJS.Timeout | undefined;
  private rotationTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly app: App,
    private readonly hostnames: readonly string[],
    private readonly logger: Logger,
    private readonly ticketKeys: TicketKeys,
    private serverCertificate: ServerCertificate,
  ) {}

  static async load(app: App, hostnames: readonly string[], logger: Logger): Promise<MtlsCredentials> {
    const certificate = await issueServerCertificate(app.ca, { hostnames, validityDays: SERVER_CERTIFICATE_DAYS });
    return new MtlsCredentials(app, hostnames, logger, TicketKeys.load(app.config.pkiRootDir, logger), certificate);
  }

  /** The options of a SecureContext: created at start and on each renewal only, since creating one is costly. */
  secureContext(): SecureContextOptions {
    return {
      key: this.serverCertificate.keyPem,
      cert: this.serverCertificate.chainPem,
      ca: [this.app.ca.rootPem, this.app.ca.intermediatePem],
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
    const renewAt = ({ notBefore, notAfter }: ServerCertificate) => notBefore.getTime() + ((notAfter.getTime() - notBefore.getTime()) * 2) / 3;
    const schedule = (delayMs: number) => {
      this.renewalTimer = setTimeout(() => void renew(), Math.min(Math.max(delayMs, 0), MAX_TIMER_MS));
      this.renewalTimer.unref();
    };
    const renew = async () => {
      if (Date.now() < renewAt(this.serverCertificate)) return schedule(renewAt(this.serverCertificate) - Date.now());
      try {
        this.serverCertificate = await issueServerCertificate(this.app.ca, { hostnames: this.hostnames, validityDays: SERVER_CERTIFICATE_DAYS });
        onRenewed();
        schedule(renewAt(this.serverCertificate) - Date.now());
      } catch (error) {
        this.logger.error({ err: error }, 'cannot renew the server certificate');
        schedule(RETRY_MS);
      }
    };
    schedule(renewAt(this.serverCertificate) - Date.now());
  }

  stop(): void {
    clearTimeout(this.renewalTimer);
    clearTimeout(this.rotationTimer);
  }
}
