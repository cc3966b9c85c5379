// An agent's registry identity kept current in memory: renewed over the mTLS listener (RenewCertificate, the
// step-ca renew model) before it expires, with a growing wait after failures, until the registry says it was
// revoked or superseded. Node only: TLS options, node:crypto and a connect-node transport.
import { EventEmitter } from 'node:events';
import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { createClient } from '@connectrpc/connect';
import { Http2SessionManager, createConnectTransport } from '@connectrpc/connect-node';
import { type RenewCertificateResponse, RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { VerifyReason } from '../../gen/atr/v1/verify_pb.js';
import { fingerprintOf } from '../pki/fingerprint.ts';
import * as x509 from '../pki/x509.ts';
import type { RegistryClient } from './client.ts';
import { type KeyAndCsr, generateKeyAndCsr } from './csr.ts';
import { type AgentTlsOptions, agentTlsOptions } from './tls-options.ts';

export interface RenewingIdentityOptions {
  /** The registry's mTLS listener, e.g. https://registry.example:8443: renewals are authenticated by the current certificate. */
  readonly mtlsUrl: string;
  /** The agent's certificate and key, PEM (cert.pem and key.pem from `atr agents register`). */
  readonly certPem: string;
  readonly keyPem: string;
  /** The registry's intermediate and root, PEM (chain.pem): the only CA the listener's certificate may chain to. */
  readonly trustBundlePem: string;
  /** How far into the certificate's lifetime it is renewed, between 0 and 1; default 2/3. */
  readonly renewAt?: number;
  /** A new EC P-256 key for every renewal (default); false renews the current key (EC P-256/P-384, RSA or Ed25519). */
  readonly newKey?: boolean;
  /**
   * The registry's public listener, asked with VerifyCertificate whether a certificate the mTLS listener refused was
   * revoked or superseded (it needs no key while PUBLIC_READS is on). Without it every refusal counts as a failure
   * to retry, and a revoked identity retries until its certificate expires.
   */
  readonly registry?: Pick<RegistryClient, 'verify'>;
  /** The wait after the first failed renewal, doubled after each further one up to `maxRetryMs`; default 1 s. */
  readonly retryMs?: number;
  /** The longest wait between attempts; default 5 minutes. */
  readonly maxRetryMs?: number;
  /** Deadline of each RenewCertificate call; default 30 s. */
  readonly timeoutMs?: number;
}

export interface RenewedCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  /** The registry's intermediate and root as the registry sent them with the certificate. */
  readonly chainPem: string;
  readonly fingerprint: string;
  readonly notAfter: Date;
  /** The certificate this one replaces; the registry now lists it as superseded. */
  readonly previousFingerprint: string;
}

export interface RetiredCertificate {
  /** What the registry says of the certificate: revoked (with its agent) or superseded by another certificate. */
  readonly reason: 'revoked' | 'superseded';
  readonly fingerprint: string;
  /** The registry's explanation. */
  readonly message: string;
}

export interface ExpiredCertificate {
  readonly fingerprint: string;
  readonly notAfter: Date;
}

/** A renewal that failed; the identity tries again after `retryInMs`. */
export class RenewalError extends Error {
  override readonly name = 'RenewalError';
  constructor(
    message: string,
    readonly retryInMs: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface RenewingIdentityEvents {
  renewed: [RenewedCertificate];
  /** The registry refused the certificate for good; the identity has stopped. */
  revoked: [RetiredCertificate];
  /** The certificate expired before a renewal succeeded; the identity has stopped. */
  expired: [ExpiredCertificate];
  /** Emitted only while something listens, so that an unwatched identity does not throw from a timer. */
  error: [RenewalError];
}

/** The shape of grpc-js's `experimental.CertificateProvider`, so that the SDK needs no grpc-js dependency. */
export interface GrpcCertificateProvider {
  addCaCertificateListener(listener: (update: { caCertificate: Buffer } | null) => void): void;
  removeCaCertificateListener(listener: (update: { caCertificate: Buffer } | null) => void): void;
  addIdentityCertificateListener(listener: (update: { certificate: Buffer; privateKey: Buffer } | null) => void): void;
  removeIdentityCertificateListener(listener: (update: { certificate: Buffer; privateKey: Buffer } | null) => void): void;
}

type IdentityListener = Parameters<GrpcCertificateProvider['addIdentityCertificateListener']>[0];

/**
 * The registry backdates notBefore by a minute for clocks that run behind (src/pki/issue.ts); that minute is not
 * part of the lifetime the registry granted, which starts at issuance. Without this, a 30-second certificate
 * (CERT_VALIDITY_SECONDS=30) would be two thirds through its 90-second window the moment it is issued.
 */
const ISSUANCE_BACKDATE_MS = 60_000;
/** The shortest time between two renewals. */
const MIN_WAIT_MS = 1_000;
/** The shortest wait after a failure, however close expiry is. */
const MIN_RETRY_NEAR_EXPIRY_MS = 100;
/** Timers wake at least this often and look at the clock again: long timers overflow and drift across sleeps. */
const MAX_TIMER_MS = 3_600_000;

interface Current {
  readonly certPem: string;
  readonly keyPem: string;
  readonly certificate: X509Certificate;
  readonly fingerprint: string;
}

/**
 * Starts keeping an agent's identity current; the first renewal is due at `renewAt` of the certificate's
 * lifetime, right away when that has passed. Call `stop()` to end it.
 */
export function createRenewingIdentity(options: RenewingIdentityOptions): RenewingIdentity {
  return new RenewingIdentity(options);
}

export class RenewingIdentity extends EventEmitter<RenewingIdentityEvents> {
  /** The agent's name, from its certificate. */
  readonly agentName: string;
  private readonly options: Required<Omit<RenewingIdentityOptions, 'registry' | 'certPem' | 'keyPem'>>;
  private readonly registry: Pick<RegistryClient, 'verify'> | undefined;
  private current: Current;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private attemptAt: number | undefined;
  private inFlight: Promise<void> | undefined;
  private stopped = false;
  private readonly identityListeners = new Set<IdentityListener>();

  constructor(options: RenewingIdentityOptions) {
    super();
    const renewAt = options.renewAt ?? 2 / 3;
    if (!(renewAt > 0 && renewAt < 1)) throw new RangeError(`renewAt must be between 0 and 1, not ${renewAt}`);
    this.options = {
      mtlsUrl: options.mtlsUrl,
      trustBundlePem: options.trustBundlePem,
      renewAt,
      newKey: options.newKey ?? true,
      retryMs: options.retryMs ?? 1_000,
      maxRetryMs: options.maxRetryMs ?? 300_000,
      timeoutMs: options.timeoutMs ?? 30_000,
    };
    this.registry = options.registry;
    this.current = identityOf(options.certPem, options.keyPem);
    const privateKey = createPrivateKey(options.keyPem);
    if (!samePublicKey(this.current.certificate.publicKey, privateKey)) throw new Error('the key is not the certificate\'s key');
    if (!this.options.newKey) signingAlgorithmOf(privateKey);
    this.agentName = agentNameOf(this.current.certificate);
    this.schedule(this.renewalTime(this.current));
  }

  /** TLS options with the current certificate, in agentTlsOptions' shape; ask again after each `renewed`. */
  tlsOptions(): AgentTlsOptions {
    return agentTlsOptions({ certPem: this.current.certPem, keyPem: this.current.keyPem, trustBundlePem: this.options.trustBundlePem });
  }

  get fingerprint(): string {
    return this.current.fingerprint;
  }

  get notAfter(): Date {
    return new Date(this.current.certificate.validTo);
  }

  /** When the next renewal attempt is due; undefined once stopped. */
  get nextAttemptAt(): Date | undefined {
    return this.attemptAt === undefined ? undefined : new Date(this.attemptAt);
  }

  /**
   * For grpc-js: `grpc.experimental.createCertificateProviderChannelCredentials(provider, provider)` gives channel
   * credentials whose new connections present the current certificate. The trust bundle does not change.
   */
  grpcCertificateProvider(): GrpcCertificateProvider {
    return {
      addCaCertificateListener: (listener) => process.nextTick(listener, { caCertificate: Buffer.from(this.options.trustBundlePem) }),
      removeCaCertificateListener: () => undefined,
      addIdentityCertificateListener: (listener) => {
        this.identityListeners.add(listener);
        process.nextTick(listener, this.identityUpdate());
      },
      removeIdentityCertificateListener: (listener) => void this.identityListeners.delete(listener),
    };
  }

  /**
   * Stops renewing. A renewal already sent is waited for, not abandoned: the registry supersedes the old certificate
   * when it answers, so its answer is still applied and announced with `renewed` before the promise settles.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimer();
    await this.inFlight;
  }

  private schedule(at: number): void {
    this.clearTimer();
    if (this.stopped) return;
    this.attemptAt = at;
    const wait = Math.max(0, Math.min(at - Date.now(), MAX_TIMER_MS));
    this.timer = setTimeout(() => (Date.now() >= at ? this.attempt() : this.schedule(at)), wait);
  }

  private clearTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.attemptAt = undefined;
  }

  private attempt(): void {
    this.timer = undefined;
    this.attemptAt = undefined;
    if (this.stopped) return;
    const presented = this.current;
    if (Date.now() >= notAfterOf(presented)) {
      this.retire();
      this.emit('expired', { fingerprint: presented.fingerprint, notAfter: new Date(presented.certificate.validTo) });
      return;
    }
    this.inFlight = this.renew(presented).finally(() => (this.inFlight = undefined));
  }

  private async renew(presented: Current): Promise<void> {
    let renewed: RenewedCertificate;
    try {
      renewed = await this.renewOverMtls(presented);
    } catch (error) {
      await this.failed(presented, error);
      return;
    }
    this.current = identityOf(renewed.certPem, renewed.keyPem);
    this.failures = 0;
    for (const listener of this.identityListeners) listener(this.identityUpdate());
    this.schedule(Math.max(this.renewalTime(this.current), Date.now() + MIN_WAIT_MS));
    this.emit('renewed', renewed);
  }

  private async renewOverMtls(presented: Current): Promise<RenewedCertificate> {
    const { mtlsUrl, trustBundlePem, newKey, timeoutMs } = this.options;
    return renewCertificate({ mtlsUrl, certPem: presented.certPem, keyPem: presented.keyPem, trustBundlePem, newKey, timeoutMs });
  }

  /** A refused certificate is revoked or superseded when the registry says so; anything else is retried. */
  private async failed(presented: Current, error: unknown): Promise<void> {
    const verdict = await this.askRegistry(presented);
    if (verdict !== undefined) {
      this.retire();
      this.emit('revoked', verdict);
      return;
    }
    this.failures += 1;
    const backoff = Math.min(this.options.retryMs * 2 ** (this.failures - 1), this.options.maxRetryMs);
    // Never wait past expiry without trying: at most half the time that is left.
    const left = notAfterOf(presented) - Date.now();
    const retryInMs = Math.max(0, Math.min(backoff, Math.max(MIN_RETRY_NEAR_EXPIRY_MS, left / 2)));
    this.schedule(Date.now() + retryInMs);
    if (this.listenerCount('error') > 0) {
      const reason = error instanceof Error ? error.message : String(error);
      this.emit('error', new RenewalError(`renewing ${this.agentName}'s certificate failed: ${reason}`, retryInMs, { cause: error }));
    }
  }

  private async askRegistry(presented: Current): Promise<RetiredCertificate | undefined> {
    if (!this.registry) return undefined;
    try {
      const answer = await this.registry.verify.verifyCertificate({ certPem: presented.certPem }, { timeoutMs: this.options.timeoutMs });
      if (answer.verified) return undefined;
      if (answer.reason === VerifyReason.REVOKED) return { reason: 'revoked', fingerprint: presented.fingerprint, message: answer.message };
      if (answer.reason === VerifyReason.SUPERSEDED) return { reason: 'superseded', fingerprint: presented.fingerprint, message: answer.message };
    } catch {
      // The public listener is unreachable too: no evidence either way, so the renewal is retried.
    }
    return undefined;
  }

  private retire(): void {
    this.stopped = true;
    this.clearTimer();
  }

  private renewalTime({ certificate }: Current): number {
    const notBefore = Date.parse(certificate.validFrom);
    const notAfter = Date.parse(certificate.validTo);
    const issued = notAfter - notBefore > ISSUANCE_BACKDATE_MS ? notBefore + ISSUANCE_BACKDATE_MS : notBefore;
    return issued + this.options.renewAt * (notAfter - issued);
  }

  private identityUpdate(): { certificate: Buffer; privateKey: Buffer } {
    return { certificate: Buffer.from(this.current.certPem), privateKey: Buffer.from(this.current.keyPem) };
  }
}

export type RenewCertificateOptions = Pick<RenewingIdentityOptions, 'mtlsUrl' | 'certPem' | 'keyPem' | 'trustBundlePem' | 'newKey' | 'timeoutMs'>;

/**
 * One renewal over the mTLS listener, authenticated by the current certificate, which the registry then lists as
 * superseded: with a new EC P-256 key (default) or the current one (`newKey: false`), sent only as a CSR.
 */
export async function renewCertificate(options: RenewCertificateOptions): Promise<RenewedCertificate> {
  const presented = identityOf(options.certPem, options.keyPem);
  const agentName = agentNameOf(presented.certificate);
  const { privateKeyPem, csrPem } = (options.newKey ?? true) ? await generateKeyAndCsr(agentName) : await csrForKey(agentName, options.keyPem);
  // A connection of its own, closed after the answer, that presents exactly the certificate being renewed. HTTP/2:
  // when the renewal supersedes that certificate, the listener lets requests in flight finish (GOAWAY) before it
  // closes the connection, where an HTTP/1.1 connection would be cut before the answer arrives.
  const tls = agentTlsOptions({ certPem: options.certPem, keyPem: options.keyPem, trustBundlePem: options.trustBundlePem });
  const session = new Http2SessionManager(options.mtlsUrl, {}, tls);
  const transport = createConnectTransport({
    baseUrl: options.mtlsUrl,
    httpVersion: '2',
    sessionManager: session,
    defaultTimeoutMs: options.timeoutMs ?? 30_000,
  });
  let answer: RenewCertificateResponse;
  try {
    answer = await createClient(RegistryService, transport).renewCertificate({ csrPem });
  } finally {
    session.abort();
  }
  const issued = identityOf(answer.certPem, privateKeyPem);
  if (!samePublicKey(issued.certificate.publicKey, createPrivateKey(privateKeyPem))) {
    throw new Error('the registry returned a certificate for another key');
  }
  return {
    certPem: answer.certPem,
    keyPem: privateKeyPem,
    chainPem: answer.chainPem,
    fingerprint: issued.fingerprint,
    notAfter: new Date(issued.certificate.validTo),
    previousFingerprint: answer.previousCertFingerprint,
  };
}

function identityOf(certPem: string, keyPem: string): Current {
  const certificate = new X509Certificate(certPem);
  return { certPem, keyPem, certificate, fingerprint: fingerprintOf(certificate.raw) };
}

const notAfterOf = ({ certificate }: Current) => Date.parse(certificate.validTo);

/** The name the registry put in the certificate: its DNS subject alternative name (also its CN). */
function agentNameOf(certificate: X509Certificate): string {
  const dns = certificate.subjectAltName?.split(', ').find((name) => name.startsWith('DNS:'));
  const cn = certificate.subject.split('\n').find((part) => part.startsWith('CN='));
  const name = dns?.slice('DNS:'.length) ?? cn?.slice('CN='.length);
  if (!name) throw new Error('the certificate names no agent (no DNS subject alternative name or CN)');
  return name;
}

function samePublicKey(fromCertificate: KeyObject, privateKey: KeyObject): boolean {
  const spki = (key: KeyObject) => key.export({ format: 'der', type: 'spki' });
  return spki(fromCertificate).equals(spki(createPublicKey(privateKey)));
}

/** A CSR signed with the key the agent already has, for renewals that keep it (`newKey: false`). */
async function csrForKey(agentName: string, keyPem: string): Promise<KeyAndCsr> {
  const privateKey = createPrivateKey(keyPem);
  const algorithm = signingAlgorithmOf(privateKey);
  const keys = {
    privateKey: await crypto.subtle.importKey('pkcs8', privateKey.export({ format: 'der', type: 'pkcs8' }), algorithm, false, ['sign']),
    publicKey: await crypto.subtle.importKey('spki', createPublicKey(privateKey).export({ format: 'der', type: 'spki' }), algorithm, true, ['verify']),
  };
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: [{ CN: [agentName] }], keys, signingAlgorithm: algorithm });
  return { privateKeyPem: keyPem, csrPem: csr.toString('pem') };
}

type SigningAlgorithm =
  | { readonly name: 'ECDSA'; readonly namedCurve: string; readonly hash: string }
  | { readonly name: 'RSASSA-PKCS1-v1_5'; readonly hash: string }
  | { readonly name: 'Ed25519' };

function signingAlgorithmOf(key: KeyObject): SigningAlgorithm {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType === 'ec' && curve === 'prime256v1') return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  if (key.asymmetricKeyType === 'ec' && curve === 'secp384r1') return { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
  if (key.asymmetricKeyType === 'rsa') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  if (key.asymmetricKeyType === 'ed25519') return { name: 'Ed25519' };
  const kind = [key.asymmetricKeyType, curve].filter(Boolean).join(' ');
  throw new Error(`cannot sign a renewal request with the current key (${kind || 'unknown type'}); renew with newKey: true`);
}
