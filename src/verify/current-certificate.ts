import { type AgentRecord, type CertificateRecord, statusOf } from '../registry/records.ts';

/** Why a certificate the registry issued is not, right now, its agent's current, unrevoked one. */
export type RetiredReason = 'revoked' | 'superseded' | 'expired';

export type CertificateState =
  | { readonly current: true }
  | { readonly current: false; readonly reason: RetiredReason; readonly message: string };

/**
 * The one rule behind certificate and token verification, the mTLS listener and the SDK's peer verifier (which
 * asks the registry): the agent is not revoked, the certificate is the agent's current one, and neither the agent
 * nor the certificate has lapsed at `now`. Checked in that order, so the most specific reason wins.
 */
export function certificateState(agent: AgentRecord, record: CertificateRecord, now: Date): CertificateState {
  const status = statusOf(agent, now);
  if (status === 'revoked') {
    return { current: false, reason: 'revoked', message: `agent ${agent.name} was revoked (${agent.revocationReason ?? 'unspecified'})` };
  }
  if (agent.certificate?.id !== record.id) {
    return { current: false, reason: 'superseded', message: `certificate was superseded by a newer certificate of ${agent.name}` };
  }
  if (status === 'expired' || record.notAfter.getTime() <= now.getTime()) {
    return { current: false, reason: 'expired', message: `agent ${agent.name}'s certificate has expired` };
  }
  return { current: true };
}
