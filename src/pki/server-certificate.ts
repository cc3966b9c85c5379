import type { CertificateAuthority } from './ca.ts';
import { distinguishedName, encodeCertificate, MAX_COMMON_NAME_LENGTH } from './certificate.ts';
import { authorityKeyIdentifier, subjectKeyIdentifier } from './extension.ts';
import { randomSerial } from './fingerprint.ts';
import { generateP256KeyPair } from './keys.ts';
import { toPem } from './pem.ts';
import {
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
} from './x509.ts';

/** A TLS server certificate with its private key, which exists only in this object (never written to disk). */
export interface ServerCertificate {
  /** The certificate, then the intermediate: the chain a TLS server sends. */
  readonly chainPem: string;
  readonly keyPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface ServerCertificateRequest {
  /** DNS names and IP addresses (v4 or v6) for the subjectAltName; the first short enough one is also the CN. */
  readonly hostnames: readonly string[];
  readonly validityDays: number;
  readonly now?: Date | undefined;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Tolerates clients whose clocks run a little behind ours. */
const BACKDATE_MS = 60 * 1000;
const IP_ADDRESS = /^[\d.]+$|:/;

/**
 * The mTLS listener's own certificate, signed by the intermediate: a fresh EC P-256 key, EKU serverAuth only, not a
 * CA. Issued rarely (at start and before expiry), so the SAN is encoded by @peculiar/x509, which handles IP forms.
 */
export async function issueServerCertificate(
  ca: CertificateAuthority,
  request: ServerCertificateRequest,
): Promise<ServerCertificate> {
  if (request.hostnames.length === 0) throw new Error('a server certificate needs at least one hostname');
  const { publicKey, privateKey } = await generateP256KeyPair();
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const now = (request.now ?? new Date()).getTime();
  const notBefore = wholeSeconds(now - BACKDATE_MS);
  const notAfter = wholeSeconds(Math.min(now + request.validityDays * DAY_MS, Date.parse(ca.intermediate.validTo)));
  const names = request.hostnames.map((name) => ({ type: IP_ADDRESS.test(name) ? ('ip' as const) : ('dns' as const), value: name }));
  const commonName = request.hostnames.find((name) => name.length <= MAX_COMMON_NAME_LENGTH);
  const extensions = [
    new BasicConstraintsExtension(false, undefined, true),
    new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
    new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth]),
    new SubjectAlternativeNameExtension(names),
  ].map((ext) => Buffer.from(ext.rawData));
  const der = encodeCertificate(
    {
      serial: randomSerial(),
      issuer: ca.intermediateName,
      notBefore,
      notAfter,
      subject: distinguishedName({ organization: ca.trustDomain, commonName }),
      subjectPublicKeyInfo: spki,
      extensions: [...extensions, subjectKeyIdentifier(spki), authorityKeyIdentifier(ca.intermediateKeyId)],
    },
    ca.signingKey,
  );
  return {
    chainPem: toPem(der, 'CERTIFICATE') + ca.intermediatePem,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    notBefore,
    notAfter,
  };
}

const wholeSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

const RETRY_MS = 60_000;
// setTimeout's limit; later renewals are rescheduled from there.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A listener's server certificate, issued by the intermediate and re-issued at two thirds of its lifetime (a minute
 * after a failed attempt), so a listener never presents one that is about to lapse.
 */
export class RenewingServerCertificate {
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly ca: CertificateAuthority,
    private readonly request: ServerCertificateRequest,
    private latest: ServerCertificate,
  ) {}

  static async issue(ca: CertificateAuthority, request: ServerCertificateRequest): Promise<RenewingServerCertificate> {
    return new RenewingServerCertificate(ca, request, await issueServerCertificate(ca, request));
  }

  get current(): ServerCertificate {
    return this.latest;
  }

  /** Renews until stopped: `onRenewed` after each renewal, `onError` for each failed attempt. */
  start(onRenewed: (certificate: ServerCertificate) => void, onError: (error: unknown) => void): void {
    const renewAt = ({ notBefore, notAfter }: ServerCertificate) => notBefore.getTime() + ((notAfter.getTime() - notBefore.getTime()) * 2) / 3;
    const schedule = (delayMs: number) => {
      this.timer = setTimeout(() => void renew(), Math.min(Math.max(delayMs, 0), MAX_TIMER_MS));
      this.timer.unref();
    };
    const renew = async () => {
      if (Date.now() < renewAt(this.latest)) return schedule(renewAt(this.latest) - Date.now());
      try {
        this.latest = await issueServerCertificate(this.ca, { ...this.request, now: undefined });
        onRenewed(this.latest);
        schedule(renewAt(this.latest) - Date.now());
      } catch (error) {
        onError(error);
        schedule(RETRY_MS);
      }
    };
    schedule(renewAt(this.latest) - Date.now());
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
