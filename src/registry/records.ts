// What the registry knows about agents, certificates and audit events, independent of storage and transport.

export type AgentStatus = 'active' | 'revoked' | 'expired' | 'pending';

export interface CertificateRecord {
  readonly id: number;
  readonly agentId: number;
  readonly serial: string;
  readonly fingerprint: string;
  readonly pem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** When it stopped being its agent's current certificate (superseded or revoked). */
  readonly revokedAt: Date | null;
  readonly revocationReason: string | null;
}

export interface AgentRecord {
  readonly id: number;
  readonly name: string;
  readonly owner: string;
  readonly capabilities: readonly string[];
  readonly description: string;
  readonly endpoints: readonly string[];
  /** The stored state; 'expired' is derived from the certificate (see statusOf). */
  readonly state: 'active' | 'revoked';
  readonly revokedAt: Date | null;
  readonly revocationReason: string | null;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly certificate: CertificateRecord | null;
}

export interface AuditEventRecord {
  readonly id: number;
  readonly eventType: string;
  readonly actor: string;
  readonly agentName: string;
  readonly metadata: Record<string, unknown>;
  readonly createdAt: Date;
}

export type AuditEventType =
  | 'agent.registered'
  | 'agent.rotated'
  | 'agent.renewed'
  | 'agent.revoked'
  | 'agent.updated'
  | 'agent.expiring'
  | 'agent.expired'
  | 'operation.failed'
  | 'cert.verified'
  | 'key.created'
  | 'key.revoked'
  | 'ca.rotated'
  | 'auth.denied'
  | 'domain.challenge_created'
  | 'domain.verified'
  | 'domain.verification_failed'
  | 'domain.flagged'
  | 'domain.suspended'
  | 'domain.removed'
  | 'dns.published'
  | 'dns.failed'
  | 'webhook.created'
  | 'webhook.deleted'
  | 'webhook.disabled';

export interface NewAuditEvent {
  readonly eventType: AuditEventType;
  readonly actor: string;
  readonly agentName: string;
  readonly metadata: Record<string, unknown>;
}

/**
 * An active agent whose current certificate has passed its notAfter is expired until it is rotated; one without a
 * certificate yet is pending (registered in the background, see operations.ts).
 */
export function statusOf(agent: AgentRecord, now: Date): AgentStatus {
  if (agent.state === 'revoked') return 'revoked';
  if (!agent.certificate) return 'pending';
  if (agent.certificate.notAfter.getTime() <= now.getTime()) return 'expired';
  return 'active';
}
