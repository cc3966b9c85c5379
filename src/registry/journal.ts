import { newLogEntry } from '../tlog/entry.ts';
import type { AuditEventType, NewAuditEvent } from './records.ts';
import type { RegistryStore, RegistryTx } from './store.ts';

/** What the journal writes into: any store transaction that keeps audit events and log entries. */
export type JournalTx = Pick<RegistryTx, 'appendAudit' | 'appendLogEntry'>;

/** One recorded event: its audit event (when kept) and its transparency-log leaf (when the log is on). */
export interface JournalEvent {
  readonly eventType: AuditEventType;
  readonly actor: string;
  readonly agentName: string;
  /** The audit event's metadata; undefined when this event gets no audit row (AUDIT_VERIFICATIONS). */
  readonly auditMetadata: Record<string, unknown> | undefined;
  /** What the leaf says of the certificate and the agent besides the event itself; empty for events of no agent. */
  readonly leaf?: { readonly fingerprint: string; readonly serial: string; readonly status: string; readonly reason: string };
}

/**
 * How every change and verification is recorded: its audit event and its log leaf in one transaction, then the log
 * woken to integrate what was sequenced. The registry writes inside the transaction of the change itself; a
 * verification, which changes nothing else, gets a transaction of its own.
 */
export class Journal {
  /** `log` is undefined when the transparency log is off (or, for verifications, not asked for). */
  constructor(private readonly log: { notify(): void } | undefined) {}

  /** Writes the event in the caller's transaction; resolves with its leaf index when the log is on. */
  async write(tx: JournalTx, event: JournalEvent, now: Date): Promise<number | undefined> {
    const { eventType, actor, agentName, leaf = noLeaf } = event;
    const audit = auditEventOf(event);
    if (audit !== undefined) await tx.appendAudit(audit, now);
    if (this.log === undefined) return undefined;
    return tx.appendLogEntry(
      newLogEntry({
        event_type: eventType,
        agent_name: agentName,
        cert_fingerprint: leaf.fingerprint,
        cert_serial: leaf.serial,
        status: leaf.status,
        reason: leaf.reason,
        timestamp: now.toISOString(),
        actor,
      }),
      now,
    );
  }

  /** After the transaction that wrote events committed: the log integrates them. */
  committed(): void {
    this.log?.notify();
  }

  /** One event with nothing else to change: a transaction of its own when it has a leaf, else a plain audit write. */
  async record(store: RegistryStore, event: JournalEvent, now: Date): Promise<void> {
    if (this.log === undefined) {
      const audit = auditEventOf(event);
      if (audit !== undefined) await store.appendAudit(audit, now);
      return;
    }
    await store.transaction((tx) => this.write(tx, event, now));
    this.committed();
  }
}

function auditEventOf({ eventType, actor, agentName, auditMetadata }: JournalEvent): NewAuditEvent | undefined {
  return auditMetadata === undefined ? undefined : { eventType, actor, agentName, metadata: auditMetadata };
}

const noLeaf = { fingerprint: '', serial: '', status: '', reason: '' } as const;
