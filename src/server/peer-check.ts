import type { TLSSocket } from 'node:tls';
import type { RegistryStore } from '../registry/store.ts';
import type { PeerAgent } from '../services/context.ts';
import { type RetiredReason, certificateState } from '../verify/current-certificate.ts';

/** Why a client certificate that OpenSSL accepted is still refused: its own shape, or the registry's one rule. */
export type PeerRefusal = 'ca_certificate' | 'not_client_auth' | 'unknown_certificate' | RetiredReason;

export type PeerCheck =
  | { readonly accepted: true; readonly agent: PeerAgent }
  | { readonly accepted: false; readonly reason: PeerRefusal; readonly fingerprint: string; readonly agentName: string };

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** What the check needs of a client certificate. */
export interface PresentedCertificate {
  /** SHA-256 of the DER, lowercase hex. */
  readonly fingerprint: string;
  readonly ca: boolean;
  /** Extended key usage OIDs; empty when the extension is absent. */
  readonly extendedKeyUsage: readonly string[];
}

/**
 * The client certificate of a TLS connection, from the summary OpenSSL already made of it: getPeerX509Certificate
 * would parse it again and cost more than twice as much, on every handshake.
 */
export function presentedCertificate(socket: TLSSocket): PresentedCertificate | undefined {
  const peer = socket.getPeerCertificate(false) as Partial<ReturnType<TLSSocket['getPeerCertificate']>>;
  if (peer.fingerprint256 === undefined) return undefined;
  return {
    fingerprint: peer.fingerprint256.replaceAll(':', '').toLowerCase(),
    ca: peer.ca === true,
    extendedKeyUsage: peer.ext_key_usage ?? [],
  };
}

/**
 * The registry-state check behind the mTLS listener: OpenSSL has checked the chain and the CRL; this checks that the
 * certificate is an agent certificate the registry issued and that it is its active agent's current one right now.
 */
export async function checkPeer(store: RegistryStore, certificate: PresentedCertificate, now = new Date()): Promise<PeerCheck> {
  const { fingerprint } = certificate;
  const refuse = (reason: PeerRefusal, agentName = ''): PeerCheck => ({ accepted: false, reason, fingerprint, agentName });
  if (certificate.ca) return refuse('ca_certificate');
  if (!certificate.extendedKeyUsage.includes(CLIENT_AUTH)) return refuse('not_client_auth');
  const found = await store.findCertificate(fingerprint);
  if (!found) return refuse('unknown_certificate');
  const { agent, certificate: record } = found;
  const state = certificateState(agent, record, now);
  if (!state.current) return refuse(state.reason, agent.name);
  return { accepted: true, agent: { name: agent.name, fingerprint, serial: record.serial } };
}
