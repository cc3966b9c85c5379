import type { AgentStatus, NewAuditEvent } from '../registry/records.ts';
import type { RegistryStore } from '../registry/store.ts';
import { newLogEntry } from '../tlog/entry.ts';

/** What an audited verification says about itself. */
export interface VerificationOutcome {
  readonly verified: boolean;
  readonly reason: string;
  readonly agentName?: string | undefined;
  readonly status?: AgentStatus | undefined;
  readonly fingerprint?: string | undefined;
  readonly serial?: string | undefined;
}

/**
 * Writes a verification to the audit trail and, when a log is configured, to the transparency log in the same
 * transaction. Token verifications use the event type 'cert.verified' with metadata.kind = 'token' until
 * AuditEventType has a type of its own for them.
 */
export async function auditVerification(
  target: { readonly store: RegistryStore; readonly log?: { notify(): void } | undefined },
  outcome: VerificationOutcome,
  actor: string,
  metadata: Record<string, unknown>,
  now: Date,
): Promise<void> {
  const audit: NewAuditEvent = {
    eventType: 'cert.verified',
    actor,
    agentName: outcome.agentName ?? '',
    metadata: { verified: outcome.verified, reason: outcome.reason, fingerprint: outcome.fingerprint ?? '', ...metadata },
  };
  const { store, log } = target;
  if (!log) {
    await store.appendAudit(audit, now);
    return;
  }
  const entry = newLogEntry({
    event_type: audit.eventType,
    agent_name: audit.agentName,
    cert_fingerprint: outcome.fingerprint ?? '',
    cert_serial: outcome.serial ?? '',
    status: outcome.status ?? '',
    reason: outcome.reason,
    timestamp: now.toISOString(),
    actor,
  });
  await store.transaction(async (tx) => {
    await tx.appendAudit(audit, now);
    await tx.appendLogEntry(entry, now);
  });
  log.notify();
}
