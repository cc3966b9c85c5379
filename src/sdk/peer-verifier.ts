import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { VerifyReason } from '../../gen/atr/v1/verify_pb.js';
import { fingerprintOf, normalizeSerial } from '../pki/fingerprint.ts';
import * as x509 from '../pki/x509.ts';
import type { RegistryClient } from './client.ts';

export type PeerRefusal =
  | 'malformed'
  | 'untrusted'
  | 'expired'
  | 'not_yet_valid'
  | 'unknown_agent'
  | 'revoked'
  | 'superseded'
  /** The registry could not be asked; the verifier fails closed. */
  | 'registry_unavailable';

export type PeerVerdict =
  | { readonly ok: true; readonly agentName: string; readonly fingerprint: string }
  | { readonly ok: false; readonly reason: PeerRefusal };

export interface PeerVerifierOptions {
  readonly registry: RegistryClient;
  /** The registry's intermediate and root, PEM; fetched with GetTrustBundle when absent. */
  readonly trustBundlePem?: string;
  /** How often the CRL is fetched while the revocation stream is down; default 30 s. */
  readonly crlPollMs?: number;
  /** How long the registry's answer for a certificate is reused; default 60 s. */
  readonly cacheTtlMs?: number;
  /** The first delay before reconnecting a failed revocation stream, doubled up to 30 s; default 1 s. */
  readonly retryMs?: number;
}

export interface PeerVerifier {
  /** Whether the registry issued this certificate and it is its agent's current, unrevoked one. */
  authorize(peerCertificate: X509Certificate | Uint8Array | string): Promise<PeerVerdict>;
  close(): void;
}

const MAX_RETRY_MS = 30_000;
const MAX_CACHED = 10_000;
/** WatchRevocations catches up at most a day. */
const MAX_CATCH_UP_SECONDS = 86_400;
/** Added to every catch-up, for clocks that differ between the verifier and the registry. */
const CATCH_UP_MARGIN_SECONDS = 5;

const REFUSALS: Partial<Record<VerifyReason, PeerRefusal>> = {
  [VerifyReason.MALFORMED]: 'malformed',
  [VerifyReason.UNTRUSTED_ISSUER]: 'untrusted',
  [VerifyReason.EXPIRED]: 'expired',
  [VerifyReason.NOT_YET_VALID]: 'not_yet_valid',
  [VerifyReason.UNKNOWN_AGENT]: 'unknown_agent',
  [VerifyReason.REVOKED]: 'revoked',
  [VerifyReason.SUPERSEDED]: 'superseded',
};

interface Cached {
  readonly verdict: PeerVerdict;
  readonly expiresAt: number;
  /** Set from the revocation stream: no registry answer obtained before the event may replace it. */
  readonly fromFeed: boolean;
}

/**
 * An authorizer for agent-to-agent mTLS (go-spiffe's idea) that also checks registry state: the peer's chain must
 * lead to the registry's CA, and the registry must hold the certificate as its agent's current one.
 *
 * Answers from VerifyCertificate are cached per fingerprint for `cacheTtlMs`; the WatchRevocations stream refuses a
 * fingerprint the moment its revocation or supersession arrives, so a cached "ok" never outlives a revoke by more
 * than the stream's latency. While the stream is down the verifier polls GetTrustBundle's CRL every `crlPollMs`
 * and refuses its serials, and reconnects with a catch-up that covers the time it was down.
 */
export function createPeerVerifier(options: PeerVerifierOptions): PeerVerifier {
  return new RegistryPeerVerifier(options);
}

/**
 * For an agent's own TLS server: call the returned function from 'secureConnection' with the socket. Refused peers
 * are destroyed; the promise gives the verdict, and the server should not act on the peer's bytes before it settles.
 *
 *   server.on('secureConnection', (socket) => void authorizePeer(socket));
 */
export function tlsAuthorizer(verifier: PeerVerifier): (socket: TLSSocket) => Promise<PeerVerdict> {
  return async (socket) => {
    // The certificate alone: with `true` Node would also summarise each issuer the client sent.
    const raw = socket.getPeerCertificate(false)?.raw;
    const verdict: PeerVerdict = raw ? await verifier.authorize(raw) : { ok: false, reason: 'malformed' };
    if (!verdict.ok) socket.destroy();
    return verdict;
  };
}

class RegistryPeerVerifier implements PeerVerifier {
  private readonly registry: RegistryClient;
  private readonly cacheTtlMs: number;
  private readonly crlPollMs: number;
  private readonly retryMs: number;
  private readonly cache = new Map<string, Cached>();
  private readonly pending = new Map<string, Promise<PeerVerdict>>();
  private readonly revokedSerials = new Set<string>();
  private readonly closed = new AbortController();
  private readonly trustBundle: Promise<X509Certificate[]>;
  private crlTimer: NodeJS.Timeout | undefined;
  /** Bumped whenever CRL polling starts or stops, so a poll in flight from an earlier round does not reschedule. */
  private crlRound = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Since when revocations may have been missed: creation, then each loss of the stream. */
  private unwatchedSince = Date.now();

  constructor(options: PeerVerifierOptions) {
    this.registry = options.registry;
    this.cacheTtlMs = options.cacheTtlMs ?? 60_000;
    this.crlPollMs = options.crlPollMs ?? 30_000;
    this.retryMs = options.retryMs ?? 1_000;
    this.trustBundle = options.trustBundlePem
      ? Promise.resolve(parseBundle(options.trustBundlePem))
      : this.registry.verify.getTrustBundle({}).then((bundle) => parseBundle(bundle.trustBundlePem));
    // Until the bundle is used, a failed fetch must not surface as an unhandled rejection.
    this.trustBundle.catch(() => undefined);
    void this.watch(this.retryMs);
  }

  async authorize(peerCertificate: X509Certificate | Uint8Array | string): Promise<PeerVerdict> {
    const certificate = parse(peerCertificate);
    if (!certificate) return { ok: false, reason: 'malformed' };
    let bundle: X509Certificate[];
    try {
      bundle = await this.trustBundle;
    } catch {
      return { ok: false, reason: 'registry_unavailable' };
    }
    if (!chainsTo(certificate, bundle)) return { ok: false, reason: 'untrusted' };
    const now = Date.now();
    if (Date.parse(certificate.validTo) <= now) return { ok: false, reason: 'expired' };
    if (Date.parse(certificate.validFrom) > now) return { ok: false, reason: 'not_yet_valid' };
    if (this.revokedSerials.has(normalizeSerial(certificate.serialNumber))) return { ok: false, reason: 'revoked' };
    const fingerprint = fingerprintOf(certificate.raw);
    const cached = this.cache.get(fingerprint);
    if (cached && cached.expiresAt > now) return cached.verdict;
    let lookup = this.pending.get(fingerprint);
    if (!lookup) {
      lookup = this.ask(certificate, fingerprint).finally(() => this.pending.delete(fingerprint));
      this.pending.set(fingerprint, lookup);
    }
    return lookup;
  }

  close(): void {
    this.closed.abort();
    clearTimeout(this.crlTimer);
    clearTimeout(this.retryTimer);
  }

  private async ask(certificate: X509Certificate, fingerprint: string): Promise<PeerVerdict> {
    let verdict: PeerVerdict;
    try {
      const answer = await this.registry.verify.verifyCertificate({ certDer: certificate.raw });
      verdict = answer.verified
        ? { ok: true, agentName: answer.agentName, fingerprint }
        : { ok: false, reason: REFUSALS[answer.reason] ?? 'untrusted' };
    } catch {
      return { ok: false, reason: 'registry_unavailable' };
    }
    // A revocation that arrived while the registry was answering wins over the answer.
    const current = this.cache.get(fingerprint);
    if (current?.fromFeed) return current.verdict;
    this.remember(fingerprint, { verdict, expiresAt: Date.now() + this.cacheTtlMs, fromFeed: false });
    return verdict;
  }

  private remember(fingerprint: string, entry: Cached): void {
    this.cache.delete(fingerprint);
    this.cache.set(fingerprint, entry);
    if (this.cache.size <= MAX_CACHED) return;
    const now = Date.now();
    for (const [key, value] of this.cache) if (value.expiresAt <= now) this.cache.delete(key);
    // Still full: drop the least recently written entries (a Map iterates in insertion order).
    for (const key of this.cache.keys()) {
      if (this.cache.size <= MAX_CACHED) break;
      this.cache.delete(key);
    }
  }

  /** Follows WatchRevocations until closed; on failure polls the CRL and reconnects with a growing delay. */
  private async watch(nextRetryMs: number): Promise<void> {
    if (this.closed.signal.aborted) return;
    const sinceSeconds = Math.min(
      MAX_CATCH_UP_SECONDS,
      Math.ceil((Date.now() - this.unwatchedSince) / 1000) + CATCH_UP_MARGIN_SECONDS,
    );
    let retryMs = nextRetryMs;
    try {
      const stream = this.registry.verify.watchRevocations(
        { sinceSeconds },
        {
          signal: this.closed.signal,
          timeoutMs: 0,
          // The server answered: the stream is live, so the CRL is no longer needed to stay current.
          onHeader: () => this.streamUp(),
        },
      );
      for await (const event of stream) {
        this.streamUp();
        retryMs = this.retryMs;
        const reason: PeerRefusal = event.reason === 'superseded' ? 'superseded' : 'revoked';
        this.remember(event.certFingerprint, {
          verdict: { ok: false, reason },
          expiresAt: Date.now() + this.cacheTtlMs,
          fromFeed: true,
        });
      }
    } catch {
      // Closed, or the registry went away: handled below like a stream the server ended.
    }
    if (this.closed.signal.aborted) return;
    this.unwatchedSince = Date.now();
    this.startCrlPolling();
    this.retryTimer = setTimeout(() => void this.watch(Math.min(retryMs * 2, MAX_RETRY_MS)), retryMs);
    this.retryTimer.unref();
  }

  private streamUp(): void {
    this.crlRound += 1;
    clearTimeout(this.crlTimer);
    this.crlTimer = undefined;
  }

  private startCrlPolling(): void {
    if (this.crlTimer) return;
    const round = ++this.crlRound;
    const tick = async () => {
      await this.pollCrl();
      if (this.closed.signal.aborted || round !== this.crlRound) return;
      this.crlTimer = setTimeout(() => void tick(), this.crlPollMs);
      this.crlTimer.unref();
    };
    this.crlTimer = setTimeout(() => void tick(), 0);
    this.crlTimer.unref();
  }

  private async pollCrl(): Promise<void> {
    try {
      const { crlDer } = await this.registry.verify.getTrustBundle({}, { signal: this.closed.signal });
      const crl = new x509.X509Crl(crlDer);
      const bundle = await this.trustBundle;
      const signed = await Promise.all(bundle.map((issuer) => crl.verify({ publicKey: new x509.X509Certificate(issuer.raw) })));
      if (!signed.includes(true)) return;
      for (const entry of crl.entries) this.revokedSerials.add(normalizeSerial(entry.serialNumber));
    } catch {
      // The registry is unreachable; the next poll tries again, and cached answers expire meanwhile.
    }
  }
}

function parse(input: X509Certificate | Uint8Array | string): X509Certificate | undefined {
  if (input instanceof X509Certificate) return input;
  try {
    return new X509Certificate(typeof input === 'string' ? input : Buffer.from(input));
  } catch {
    return undefined;
  }
}

function parseBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block));
}

/** OpenSSL checks each link's names and signature, up to a self-signed certificate of the bundle. */
function chainsTo(leaf: X509Certificate, bundle: readonly X509Certificate[]): boolean {
  let current = leaf;
  for (let depth = 0; depth <= bundle.length; depth += 1) {
    const issuer = bundle.find((candidate) => current.checkIssued(candidate) && current.verify(candidate.publicKey));
    if (!issuer) return false;
    if (issuer === current || (issuer.checkIssued(issuer) && issuer.verify(issuer.publicKey))) return true;
    current = issuer;
  }
  return false;
}
