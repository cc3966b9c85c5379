import type { NewLogEntry } from '../tlog/store.ts';
import type { NewOperation, OperationOutcome, OperationRecord } from './operations.ts';
import type { AgentRecord, AgentStatus, AuditEventRecord, CertificateRecord, NewAuditEvent } from './records.ts';

export interface AgentFilter {
  readonly owner?: string | undefined;
  readonly status?: AgentStatus | undefined;
  readonly capability?: string | undefined;
}

/** Keyset (afterId) or offset pagination; limit is always set. */
export interface Page {
  readonly limit: number;
  readonly afterId?: number | undefined;
  readonly offset?: number | undefined;
}

export interface AuditFilter {
  readonly agentName?: string | undefined;
  readonly eventType?: string | undefined;
}

export interface NewAgent {
  readonly name: string;
  readonly owner: string;
  readonly capabilities: readonly string[];
  readonly description: string;
  readonly endpoints: readonly string[];
  readonly at: Date;
}

export interface NewCertificate {
  readonly serial: string;
  readonly fingerprint: string;
  readonly pem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface AgentChanges {
  readonly capabilities?: readonly string[];
  readonly description?: string;
  readonly endpoints?: readonly string[];
  readonly currentCertificateId?: number;
  readonly state?: 'revoked';
  readonly revokedAt?: Date;
  readonly revocationReason?: string;
}

/** Writes that belong together; everything done through one RegistryTx commits or rolls back as one. */
export interface RegistryTx {
  /** The agent, locked against other writers until the transaction ends. */
  lockAgent(name: string): Promise<AgentRecord | undefined>;
  /**
   * Inserts the agent with its first certificate, or without one (pending, registered in the background); throws
   * nameTaken when the name exists (revoked and pending ones too). Returns the agent as written, which the
   * transaction holds (no other writer sees it before the commit).
   */
  insertAgent(agent: NewAgent, certificate: NewCertificate | undefined): Promise<AgentRecord>;
  /** Gives a pending agent its first certificate (the agent's version stays as it is). */
  insertFirstCertificate(agentId: number, certificate: NewCertificate, at: Date): Promise<CertificateRecord>;
  /** Removes a pending agent whose registration failed, freeing its name. */
  deletePendingAgent(agentId: number): Promise<void>;
  insertOperation(operation: NewOperation): Promise<void>;
  /** The operation, locked against other writers until the transaction ends. */
  lockOperation(id: string): Promise<OperationRecord | undefined>;
  /** Ends a pending operation; an operation that has ended already is left as it is. */
  finishOperation(id: string, outcome: OperationOutcome, at: Date): Promise<void>;
  insertCertificate(agentId: number, certificate: NewCertificate, at: Date): Promise<CertificateRecord>;
  /** Applies the changes and bumps the version; throws versionConflict unless the agent is at `version`. */
  updateAgent(agent: AgentRecord, changes: AgentChanges, at: Date): Promise<void>;
  /** Marks a certificate as no longer current: superseded by a rotation, or revoked with its agent. */
  retireCertificate(certificateId: number, reason: string, at: Date): Promise<void>;
  appendAudit(event: NewAuditEvent, at: Date): Promise<void>;
  /** Sequences a transparency log entry; returns its index. */
  appendLogEntry(entry: NewLogEntry, at: Date): Promise<number>;
}

/** A certificate that stopped being valid (revoked or superseded), as the revocation feed reports it. */
export interface RetiredCertificate {
  readonly agentName: string;
  readonly fingerprint: string;
  readonly serial: string;
  /** RFC 5280 reason name; superseded for rotations and renewals. */
  readonly reason: string;
  readonly revokedAt: Date;
}

/** The registry's storage: one implementation per database family, one test suite for all. */
export interface RegistryStore {
  transaction<T>(work: (tx: RegistryTx) => Promise<T>): Promise<T>;
  findAgent(name: string): Promise<AgentRecord | undefined>;
  listAgents(filter: AgentFilter, page: Page, now: Date): Promise<{ agents: AgentRecord[]; total: number }>;
  /** The certificate with this SHA-256 fingerprint, with its agent. */
  findCertificate(fingerprint: string): Promise<{ certificate: CertificateRecord; agent: AgentRecord } | undefined>;
  /** Certificates that are revoked or superseded and not yet expired: the CRL's entries. */
  listRetiredCertificates(now: Date): Promise<CertificateRecord[]>;
  /** Certificates retired at or after `since`, expired ones included, ordered by retirement time then id. */
  listRetiredSince(since: Date): Promise<RetiredCertificate[]>;
  listAuditEvents(filter: AuditFilter, page: Page): Promise<{ events: AuditEventRecord[]; total: number }>;
  appendAudit(event: NewAuditEvent, at: Date): Promise<void>;
  findOperation(id: string): Promise<OperationRecord | undefined>;
  /** Counts a worker's attempt at a pending operation. */
  countOperationAttempt(id: string, at: Date): Promise<void>;
  /** Keeps the certificate an operation's issue step signed unless one is kept already; returns the one kept. */
  keepIssuedCertificate(id: string, pem: string, at: Date): Promise<string | undefined>;
  /** Removes operations that ended before `before`; returns how many. */
  pruneOperations(before: Date): Promise<number>;
  /** Ids of operations still pending that were accepted before `before`, oldest first. */
  listPendingOperations(before: Date, limit: number): Promise<string[]>;
  /** Throws when the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
