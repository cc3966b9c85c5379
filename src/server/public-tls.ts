import { constants as cryptoConstants } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { type SecureContextOptions, createSecureContext } from 'node:tls';
import { ConfigError, publicTlsMode } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { CertificateAuthority } from '../pki/ca.ts';
import { RenewingServerCertificate, type ServerCertificate } from '../pki/server-certificate.ts';
import type { TlsCredentials } from './listener.ts';

const SERVER_CERTIFICATE_DAYS = 7;

type TlsSettings = Pick<Config, 'publicTls' | 'tlsCertFile' | 'tlsKeyFile' | 'publicHostnames'>;

/**
 * What the public listener presents with PUBLIC_TLS: the operator's certificate and key (files), read and checked at
 * start, or a certificate the registry's own intermediate issues for PUBLIC_HOSTNAMES (registry), known only once
 * the CA is loaded, which happens after the listener is bound (the CRL distribution point names its port): until
 * `issueFrom` the listener's connections wait. Undefined when the public listener is cleartext.
 */
export function publicTls(config: TlsSettings, logger: Logger): PublicTls | undefined {
  const mode = publicTlsMode(config);
  if (mode === 'off') return undefined;
  if (mode === 'files') return PublicTls.fromFiles(config, logger);
  return PublicTls.fromRegistry(config.publicHostnames, logger);
}

export class PublicTls implements TlsCredentials {
  readonly ready: Promise<SecureContextOptions>;
  private resolveReady: (options: SecureContextOptions) => void = () => {};
  private renewed: (options: SecureContextOptions) => void = () => {};
  private certificate: RenewingServerCertificate | undefined;

  private constructor(
    private readonly hostnames: readonly string[] | undefined,
    private readonly logger: Logger,
    known?: SecureContextOptions,
  ) {
    this.ready = known === undefined ? new Promise((resolve) => (this.resolveReady = resolve)) : Promise.resolve(known);
  }

  static fromFiles({ tlsCertFile, tlsKeyFile }: TlsSettings, logger: Logger): PublicTls {
    if (tlsCertFile === undefined || tlsKeyFile === undefined) {
      throw new ConfigError(`PUBLIC_TLS=files needs both TLS_CERT_FILE and TLS_KEY_FILE (missing ${tlsCertFile === undefined ? 'TLS_CERT_FILE' : 'TLS_KEY_FILE'})`);
    }
    warnIfReadableByOthers(tlsKeyFile, logger);
    const options = { ...hardening, cert: readPem(tlsCertFile, 'TLS_CERT_FILE'), key: readPem(tlsKeyFile, 'TLS_KEY_FILE') };
    try {
      createSecureContext(options);
    } catch (error) {
      throw new ConfigError(`TLS_CERT_FILE and TLS_KEY_FILE: not a usable PEM certificate chain and matching key (${(error as Error).message})`);
    }
    return new PublicTls(undefined, logger, options);
  }

  static fromRegistry(hostnames: readonly string[], logger: Logger): PublicTls {
    return new PublicTls(hostnames, logger);
  }

  /** PUBLIC_TLS=registry: issues the listener's certificate and keeps renewing it; nothing with files. */
  async issueFrom(ca: CertificateAuthority): Promise<void> {
    if (this.hostnames === undefined) return;
    this.certificate = await RenewingServerCertificate.issue(ca, { hostnames: this.hostnames, validityDays: SERVER_CERTIFICATE_DAYS });
    this.certificate.start(
      (certificate) => this.renewed(contextOf(certificate)),
      (error) => this.logger.error({ err: error }, 'cannot renew the public listener\'s certificate'),
    );
    this.resolveReady(contextOf(this.certificate.current));
  }

  onRenewed(use: (options: SecureContextOptions) => void): void {
    this.renewed = use;
  }

  stop(): void {
    this.certificate?.stop();
  }
}

// As on the mTLS listener: no TLS below 1.2, no client-initiated renegotiation (each one a full handshake).
const hardening: SecureContextOptions = { minVersion: 'TLSv1.2', secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION };

function contextOf(certificate: ServerCertificate): SecureContextOptions {
  return { ...hardening, cert: certificate.chainPem, key: certificate.keyPem };
}

function readPem(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${setting}=${JSON.stringify(path)}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** Warned about, not refused: orchestrators commonly mount secrets 0644 inside a container nobody else shares. */
function warnIfReadableByOthers(path: string, logger: Logger): void {
  try {
    const mode = statSync(path).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      logger.warn({ file: path, mode: mode.toString(8) }, 'TLS_KEY_FILE is readable by other users than its owner; chmod 600 it');
    }
  } catch {
    // readPem reports an unreadable file.
  }
}
