// What DNS publication keeps in the database: the RRsets it published and, per agent, which version DNS shows.
import type { NewAuditEvent } from '../registry/records.ts';
import type { RRset, ZoneChange } from './rrset.ts';

export type PublicationStatus = 'published' | 'pending' | 'failed';

export interface Publication {
  readonly agentName: string;
  /** The agent version this row is about: published, being published, or that failed. */
  readonly agentVersion: number;
  readonly status: PublicationStatus;
  readonly error: string | null;
  readonly attempts: number;
  readonly nextAttemptAt: Date | null;
  readonly publishedAt: Date | null;
}

/** An agent as publication sees it: enough to tell whether DNS is behind. */
export interface AgentVersion {
  readonly id: number;
  readonly name: string;
  readonly version: number;
  readonly updatedAt: Date;
}

/** One stored RRset; records null once removed (kept so processes reloading by serial see the removal). */
export interface StoredRRset {
  readonly serial: number;
  readonly zone: string;
  readonly rrset: RRset | { readonly name: string; readonly type: RRset['type']; readonly ttl: number; readonly records: null };
}

export interface PublicationFailure {
  readonly error: string;
  /** The failure will pass by itself (unreachable, SERVFAIL, throttled): the row stays pending, not failed. */
  readonly retryable: boolean;
  readonly attempts: number;
  readonly nextAttemptAt: Date;
}

export interface DnsPublicationStore {
  /** Agents changed at or after `since`, oldest change first. */
  changedSince(since: Date, limit: number): Promise<AgentVersion[]>;
  /** Every agent, by id, for the reconciliation at start. */
  agentsAfter(afterId: number, limit: number): Promise<AgentVersion[]>;
  publications(agentNames: readonly string[]): Promise<Map<string, Publication>>;
  /** Agents whose publication is pending or failed and due for another attempt at `now`. */
  due(now: Date, limit: number): Promise<string[]>;
  /**
   * Takes the agent's publication for `leaseMs` (other processes skip it meanwhile) and marks it pending. Returns
   * the attempts already made at this version, or undefined when another process holds it or this version (or a
   * newer one) is already published.
   */
  claim(agentName: string, version: number, now: Date, leaseMs: number): Promise<{ attempts: number } | undefined>;
  /** The agent's RRsets as last published (removed ones left out). */
  publishedRRsets(agentName: string): Promise<RRset[]>;
  /**
   * In one transaction: the change's RRsets (upserts replace, removals leave tombstones), the row marked published
   * and the audit event, if any. Returns the newest serial in the table.
   */
  recordPublished(agentName: string, version: number, change: ZoneChange, audit: NewAuditEvent | undefined, now: Date): Promise<number>;
  /** In one transaction: the failure on the agent's row and the audit event, if any. */
  recordFailure(agentName: string, version: number, failure: PublicationFailure, audit: NewAuditEvent | undefined, now: Date): Promise<void>;
  /** Stored RRsets with a serial above `serial`, in serial order: how a process's zone table catches up. */
  rrsetsAfter(serial: number, limit: number): Promise<StoredRRset[]>;
  /** How many agents' publications are pending or failed. */
  behindCount(): Promise<number>;
  /** The newest transparency-log leaf about the agent, for the TXT record's log= field. */
  latestLogIndex(agentName: string): Promise<number | undefined>;
}
