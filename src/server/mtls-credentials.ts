import { constants as cryptoConstants } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from '../log/logger.ts';
import { toPem } from '../pki/pem.ts';
import { emptyRootCrl } from '../pki/root-crl.ts';
import { type ServerCertificate, issueServerCertificate } from '../pki/server-certificate.ts';
import type { App } from './app.ts';

const SERVER_CERTIFICATE_DAYS = 7;
const RETRY_MS = 60_000;
// setTimeout's limit; later renewals are rescheduled from there.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * What the mTLS listener presents and checks with: its own server certificate, issued by the registry and renewed
 * at two thirds of its lifetime, the CA chain agents must chain to, and the CRLs OpenSSL checks them against.
 * Every change is handed to `onChange` as a new SecureContext.
 */
export class MtlsCredentials {
  private renewalTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly app: App,
    private readonly hostnames: readonly string[],
    private readonly logger: Logger,
    /** undefined with MTLS_CRL_CHECK=false, or when root.key is not at hand to sign the root's CRL. */
    private readonly rootCrl: Buffer | undefined,
    private serverCertificate: ServerCertificate,
    private crl: Buffer,
  ) {}

  static async load(app: App, hostnames: readonly string[], logger: Logger): Promise<MtlsCredentials> {
    // MTLS_CRL_CHECK=false leaves revocation to the registry-state check alone: OpenSSL's CRL checks (Node turns on
    // CRL_CHECK_ALL, so both CRLs are looked up and their signatures verified on every handshake) cost handshake rate.
    const rootCrl = app.config.mtlsCrlCheck ? await emptyRootCrl(app.ca, app.config.pkiRootDir, app.config.caKeyPassphrase) : undefined;
    if (rootCrl === undefined && app.config.mtlsCrlCheck) {
      logger.warn({}, 'root.key is not in PKI_ROOT_DIR, so OpenSSL gets no CRLs; the registry check alone refuses revoked certificates');
    }
    const certificate = await issueServerCertificate(app.ca, { hostnames, validityDays: SERVER_CERTIFICATE_DAYS });
    return new MtlsCredentials(app, hostnames, logger, rootCrl, certificate, await app.revocationList.current());
  }

  /** The CRL OpenSSL checks now; compared by identity to tell whether it changed while a check ran. */
  get currentCrl(): Buffer {
    return this.crl;
  }

  secureContext(): SecureContextOptions {
    return {
      key: this.serverCertificate.keyPem,
      cert: this.serverCertificate.chainPem,
      ca: [this.app.ca.rootPem, this.app.ca.intermediatePem],
      ...(this.rootCrl && { crl: [toPem(this.rootCrl, 'X509 CRL'), toPem(this.crl, 'X509 CRL')] }),
      minVersion: 'TLSv1.2',
      // TLS 1.2 lets a client ask for a new handshake on an open connection: each costs the server a full
      // handshake and re-verification, and nothing here needs one (TLS 1.3 has none).
      secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION,
    };
  }

  /** Reads the registry's CRL again; true when it changed (and the SecureContext with it). */
  async refreshCrl(): Promise<boolean> {
    const next = await this.app.revocationList.current();
    if (next.equals(this.crl)) return false;
    this.crl = next;
    return true;
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
  }
}
