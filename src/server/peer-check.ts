import type { X509Certificate } from 'node:crypto';
import { fingerprintOf } from '../pki/fingerprint.ts';
import { statusOf } from '../registry/records.ts';
import type { RegistryStore } from '../registry/store.ts';
import type { PeerAgent } from '../services/context.ts';

/** Why a client certificate that OpenSSL accepted is still refused. */
export type PeerRefusal =
  | 'ca_certificate'
  | 'not_client_auth'
  | 'unknown_certificate'
  | 'agent_revoked'
  | 'superseded'
  | 'expired';

export type PeerCheck =
  | { readonly accepted: true; readonly agent: PeerAgent }
  | { readonly accepted: false; readonly reason: PeerRefusal; readonly fingerprint: string; readonly agentName: string };

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/**
 * The registry-state check behind the mTLS listener: OpenSSL has checked the chain and the CRL; this checks that the
 * certificate is an agent certificate the registry issued and that it is its active agent's current one right now.
 */
export async function checkPeer(store: RegistryStore, certificate: X509Certificate, now = new Date()): Promise<PeerCheck> {
  const fingerprint = fingerprintOf(certificate.raw);
  const refuse = (reason: PeerRefusal, agentName = ''): PeerCheck => ({ accepted: false, reason, fingerprint, agentName });
  if (certificate.ca) return refuse('ca_certificate');
  // Node names the extended key usage OIDs `keyUsage`; undefined means the extension is absent.
  if (!certificate.keyUsage?.includes(CLIENT_AUTH)) return refuse('not_client_auth');
  const found = await store.findCertificate(fingerprint);
  if (!found) return refuse('unknown_certificate');
  const { agent, certificate: record } = found;
  if (agent.state === 'revoked') return refuse('agent_revoked', agent.name);
  if (agent.certificate?.fingerprint !== fingerprint) return refuse('superseded', agent.name);
  if (statusOf(agent, now) !== 'active' || record.notAfter.getTime() <= now.getTime()) return refuse('expired', agent.name);
  return { accepted: true, agent: { name: agent.name, fingerprint, serial: record.serial } };
}
