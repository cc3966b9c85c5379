import { Journal } from '../registry/journal.ts';
import type { AgentStatus } from '../registry/records.ts';
import type { RegistryStore } from '../registry/store.ts';

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
 * Which verifications get an audit event (AUDIT_VERIFICATIONS): every one, only those that were not verified,
 * or none. An anonymous caller can verify as often as it likes, so only `all` lets it grow the table at will.
 */
export type VerificationAuditChoice = 'all' | 'refusals' | 'none';

/** Where a verification is recorded; the verifiers' options carry these fields. */
export interface VerificationRecording {
  readonly store: RegistryStore;
  /** With a log, every verification gets a leaf, whatever `audit` says: the two are separate choices. */
  readonly log?: { notify(): void } | undefined;
  /** Default all. */
  readonly audit?: VerificationAuditChoice | undefined;
  /**
   * Called once per verification with its result ('verified' or the reason), audited or not, once it is recorded:
   * the totals /metrics shows. A verification whose recording failed answered an error, not a result.
   */
  readonly count?: ((result: string) => void) | undefined;
}

/**
 * Records a verification: an audit event when the audit choice keeps it and a log leaf when a log is configured,
 * in one transaction when there are both; then counts it. Token verifications use the event type 'cert.verified'
 * with metadata.kind = 'token' until AuditEventType has a type of its own for them.
 */
export async function auditVerification(
  target: VerificationRecording,
  outcome: VerificationOutcome,
  actor: string,
  metadata: Record<string, unknown>,
  now: Date,
): Promise<void> {
  const kept = keepsAuditEvent(target.audit ?? 'all', outcome);
  await new Journal(target.log).record(
    target.store,
    {
      eventType: 'cert.verified',
      actor,
      agentName: outcome.agentName ?? '',
      auditMetadata: kept ? { verified: outcome.verified, reason: outcome.reason, fingerprint: outcome.fingerprint ?? '', ...metadata } : undefined,
      leaf: { fingerprint: outcome.fingerprint ?? '', serial: outcome.serial ?? '', status: outcome.status ?? '', reason: outcome.reason },
    },
    now,
  );
  target.count?.(outcome.reason);
}

function keepsAuditEvent(choice: VerificationAuditChoice, outcome: VerificationOutcome): boolean {
  return choice === 'all' || (choice === 'refusals' && !outcome.verified);
}

