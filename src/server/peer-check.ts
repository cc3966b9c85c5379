import type { TLSSocket } from 'node:tls';
import { fingerprintFromColonHex, normalizeSerial } from '../pki/fingerprint.ts';
import type { RegistryStore } from '../registry/store.ts';
import type { PeerAgent } from '../services/context.ts';
import { type RetiredReason, certificateState } from '../verify/current-certificate.ts';
import type { CrlRefusal, MtlsCrl } from './mtls-crl.ts';

/**
 * Why a client certificate is refused: OpenSSL's verdict on its chain (`expired`, `not_yet_valid`, `untrusted_chain`),
 * its own shape, the registry's one rule, or the registry's CRLs.
 */
export type PeerRefusal =
  | 'no_certificate'
  | 'not_yet_valid'
  | 'untrusted_chain'
  | 'ca_certificate'
  | 'not_client_auth'
  | 'unknown_certificate'
  | RetiredReason
  | CrlRefusal;

export type Refusal = {
  readonly accepted: false;
  readonly reason: PeerRefusal;
  readonly fingerprint: string;
  readonly agentName: string;
  /** OpenSSL's verification error, when it refused the chain. */
  readonly chainError?: string;
};

export type PeerCheck = { readonly accepted: true; readonly agent: PeerAgent } | Refusal;

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** What the checks need of a client certificate. */
export interface PresentedCertificate {
  /** SHA-256 of the DER, lowercase hex. */
  readonly fingerprint: string;
  /** As fingerprint.ts normalizes serials. */
  readonly serial: string;
  readonly ca: boolean;
  /** Extended key usage OIDs; empty when the extension is absent. */
  readonly extendedKeyUsage: readonly string[];
  /** Why OpenSSL did not verify the chain against the registry CA (e.g. CERT_HAS_EXPIRED); undefined when it did. */
  readonly chainError: string | undefined;
}

/**
 * The client certificate of a TLS connection, with OpenSSL's verdict on its chain, read the cheaper of Node's two
 * ways for how the connection began (measured in the listener, per connection):
 * - after a full handshake, getPeerCertificate's summary of the certificate (75 µs). getPeerX509Certificate costs
 *   300 µs there: it also copies the chain the client sent, each certificate encoded and decoded again.
 * - on a resumed session, getPeerX509Certificate (6 µs): the session holds the certificate alone, and each field is
 *   read from OpenSSL's parse when asked, where the summary prints every field and extension as text (50–100 µs).
 * A resumed session has the certificate and the verdict of the handshake that made it.
 */
export function presentedCertificate(socket: TLSSocket): PresentedCertificate | undefined {
  const chainError = socket.authorized ? undefined : String(socket.authorizationError ?? 'UNKNOWN');
  if (socket.isSessionReused()) {
    const peer = socket.getPeerX509Certificate();
    if (peer === undefined) return undefined;
    return {
      fingerprint: fingerprintFromColonHex(peer.fingerprint256),
      serial: normalizeSerial(peer.serialNumber),
      ca: peer.ca,
      // Node's name for the extended key usage OIDs; undefined when the extension is absent.
      extendedKeyUsage: (peer.keyUsage as string[] | undefined) ?? [],
      chainError,
    };
  }
  const peer = socket.getPeerCertificate(false) as Partial<ReturnType<TLSSocket['getPeerCertificate']>>;
  if (peer.fingerprint256 === undefined) return undefined;
  return {
    fingerprint: fingerprintFromColonHex(peer.fingerprint256),
    serial: normalizeSerial(peer.serialNumber ?? ''),
    ca: peer.ca === true,
    extendedKeyUsage: peer.ext_key_usage ?? [],
    chainError,
  };
}

/** What the certificate and OpenSSL's verification of its chain say, before the registry is asked; undefined: ask it. */
export function screenPeer(certificate: PresentedCertificate): Refusal | undefined {
  const { fingerprint, chainError } = certificate;
  const refuse = (reason: PeerRefusal): Refusal => ({ accepted: false, reason, fingerprint, agentName: '', ...(chainError && { chainError }) });
  if (chainError !== undefined) {
    return refuse(chainError === 'CERT_HAS_EXPIRED' ? 'expired' : chainError === 'CERT_NOT_YET_VALID' ? 'not_yet_valid' : 'untrusted_chain');
  }
  if (certificate.ca) return refuse('ca_certificate');
  if (!certificate.extendedKeyUsage.includes(CLIENT_AUTH)) return refuse('not_client_auth');
  return undefined;
}

/**
 * The registry-state check behind the mTLS listener, for a certificate screenPeer let through: it is an agent
 * certificate the registry issued, its active agent's current one right now, and (with MTLS_CRL_CHECK) on neither CRL.
 */
export async function checkPeer(store: RegistryStore, certificate: PresentedCertificate, crl: MtlsCrl, now = new Date()): Promise<PeerCheck> {
  const { fingerprint } = certificate;
  const refuse = (reason: PeerRefusal, agentName = ''): Refusal => ({ accepted: false, reason, fingerprint, agentName });
  const found = await store.findCertificate(fingerprint);
  if (!found) return refuse('unknown_certificate');
  const { agent, certificate: record } = found;
  const state = certificateState(agent, record, now);
  if (!state.current) return refuse(state.reason, agent.name);
  const listed = crl.refusalOf(certificate.serial);
  if (listed !== undefined) return refuse(listed, agent.name);
  return { accepted: true, agent: { name: agent.name, fingerprint, serial: record.serial } };
}
