import { randomUUID } from 'node:crypto';
import { DomainError, agentNotFound, agentPending, agentRevoked, invalidArgument, versionConflict } from '../errors.ts';
import type { CertificateAuthority } from '../pki/ca.ts';
import { parseCsr, type RequestedKey } from '../pki/csr.ts';
import { type IssuedCertificate, issueAgentCertificate, issuedFromPem } from '../pki/issue.ts';
import { generateAgentKey } from '../pki/keys.ts';
import { parseRevocationReason } from '../pki/revocation-reason.ts';
import {
  checkAgentFilter,
  checkAuditFilter,
  checkCapabilities,
  checkDescription,
  checkEndpoints,
  checkExpectedVersion,
  checkOwner,
} from './fields.ts';
import { Journal } from './journal.ts';
import { type NameRules, REGISTERED_NAME, validateAgentName } from './names.ts';
import { type NewOperation, type OperationRecord, operationNotFound } from './operations.ts';
import { type AgentRecord, type AuditEventRecord, type AuditEventType, statusOf } from './records.ts';
import type { AgentFilter, AuditFilter, Page, RegistryStore, RegistryTx } from './store.ts';

export interface RegistryOptions {
  readonly store: RegistryStore;
  readonly ca: CertificateAuthority;
  readonly certValidityDays: number;
  /** Register names whose xn-- labels mix scripts confusably (UTS #39); names already registered always pass. */
  readonly allowMixedScriptNames?: boolean;
  /** Called after every change to an agent's certificates (rotate, revoke), e.g. to refresh the CRL. */
  readonly onCertificatesChanged?: () => void;
  /** Called after each change to an agent committed (register, rotate, renew, revoke, update), e.g. to publish it in DNS. */
  readonly onChanged?: (agentName: string) => void;
  /** When set, every change also appends a leaf to the transparency log, in the change's transaction. */
  readonly log?: { notify(): void } | undefined;
  /** With domain validation on (DOMAIN_VALIDATION_ENABLED), decides who may register which names. */
  readonly registrationGate?: RegistrationGate | undefined;
  /** Called once an operation accepted to finish in the background has committed: puts its job in the queue. */
  readonly onAccepted?: (operationId: string) => Promise<void>;
  readonly now?: () => Date;
}

/** Whether an owner may register a name; throws PermissionDenied when not. */
export interface RegistrationGate {
  /** `override`: an admin asks, and is let through anyway. Resolves with what the audit event records of it. */
  admit(agentName: string, owner: string, override: boolean): Promise<Record<string, unknown>>;
}

export interface RegisterInput {
  readonly agentName: string;
  readonly owner: string;
  readonly capabilities: readonly string[];
  readonly csrPem?: string | undefined;
  readonly description?: string | undefined;
  readonly endpoints?: readonly string[] | undefined;
}

/** An agent after a change, and the index of the change's leaf in the transparency log (when the log is on). */
export interface Recorded {
  readonly agent: AgentRecord;
  readonly logIndex: number | undefined;
}

/** A newly issued certificate; privateKeyPem only when the registry generated the key (returned once). */
export interface Issued extends Recorded {
  readonly certPem: string;
  readonly privateKeyPem?: string | undefined;
}

/** A registration or rotation accepted to finish in the background: the agent as it is now, and the operation. */
export interface Accepted {
  readonly agent: AgentRecord;
  readonly operationId: string;
  /** Only when the registry made the key: returned now, never kept. */
  readonly privateKeyPem?: string | undefined;
}

export interface UpdateInput {
  readonly agentName: string;
  readonly capabilities?: readonly string[] | undefined;
  readonly description?: string | undefined;
  readonly endpoints?: readonly string[] | undefined;
  readonly expectedVersion?: number | undefined;
}

/** Who asked for a change, as recorded in the audit trail. */
export type Actor = string;

/** Confines a change to one owner's agents (an owner API key); undefined lets it touch any agent. */
export type OwnerScope = { readonly owner: string } | undefined;

/** The agent lifecycle: register, rotate, revoke, update. Each change and its audit event commit together. */
export class Registry {
  private readonly store: RegistryStore;
  private readonly journal: Journal;
  private readonly now: () => Date;
  private readonly newNames: NameRules;

  constructor(private readonly options: RegistryOptions) {
    this.store = options.store;
    this.journal = new Journal(options.log);
    this.now = options.now ?? (() => new Date());
    this.newNames = { allowMixedScripts: options.allowMixedScriptNames ?? false };
  }

  async register(input: RegisterInput, actor: Actor, scope?: OwnerScope): Promise<Issued> {
    const { agent: newAgent, admission } = await this.admit(input, scope);
    const { key, privateKeyPem, keySource } = await this.keyFor(input.csrPem);
    const now = this.now();
    const certificate = await this.issue(input.agentName, key, now);
    const recorded = await this.change(async (tx) => {
      const agent = await tx.insertAgent({ ...newAgent, at: now }, certificate);
      return this.recordRegistration(tx, agent, certificate, { actor, keySource, keyAlgorithm: key.algorithm, admission }, now);
    });
    return { ...recorded, certPem: certificate.pem, privateKeyPem };
  }

  /**
   * Accepts a registration to finish in the background: every rule is checked and the key taken now; the agent is
   * pending (its name taken) until a worker runs the operation (runOperation).
   */
  async registerLater(input: RegisterInput, actor: Actor, scope?: OwnerScope): Promise<Accepted> {
    const { agent: newAgent, admission } = await this.admit(input, scope);
    const { key, privateKeyPem, keySource } = await this.keyFor(input.csrPem);
    const now = this.now();
    const operation = this.newOperation({ kind: 'register', agentName: input.agentName, owner: newAgent.owner, actor, key, keySource, admission }, now);
    const agent = await this.store.transaction(async (tx) => {
      const agent = await tx.insertAgent({ ...newAgent, at: now }, undefined);
      await tx.insertOperation(operation);
      return agent;
    });
    await this.options.onAccepted?.(operation.id);
    return { agent, operationId: operation.id, privateKeyPem };
  }

  /** The checks every registration passes before a key is taken, and what the registration gate admitted. */
  private async admit(input: RegisterInput, scope: OwnerScope) {
    validateAgentName(input.agentName, this.newNames);
    const owner = checkOwner(ownerFor(input.owner, scope));
    const capabilities = checkCapabilities(input.capabilities);
    const description = checkDescription(input.description ?? '');
    const endpoints = checkEndpoints(input.endpoints ?? []);
    const admission = (await this.options.registrationGate?.admit(input.agentName, owner, scope === undefined)) ?? {};
    return { agent: { name: input.agentName, owner, capabilities, description, endpoints }, admission };
  }

  private recordRegistration(
    tx: RegistryTx,
    agent: AgentRecord,
    certificate: IssuedCertificate,
    how: { actor: Actor; keySource: string; keyAlgorithm: string; admission: Record<string, unknown>; operationId?: string },
    now: Date,
  ): Promise<Recorded> {
    const { actor, keySource, keyAlgorithm, admission, operationId } = how;
    const metadata = {
      owner: agent.owner,
      capabilities: agent.capabilities,
      fingerprint: certificate.fingerprint,
      serial: certificate.serial,
      key_source: keySource,
      key_algorithm: keyAlgorithm,
      ...admission,
      ...(operationId && { operation_id: operationId }),
    };
    return this.record(tx, { eventType: 'agent.registered', actor, agent, metadata }, now);
  }

  async get(agentName: string): Promise<AgentRecord> {
    validateAgentName(agentName, REGISTERED_NAME);
    const agent = await this.store.findAgent(agentName);
    if (!agent) throw agentNotFound(agentName);
    return agent;
  }

  list(filter: AgentFilter, page: Page): Promise<{ agents: AgentRecord[]; total: number }> {
    return this.store.listAgents(checkAgentFilter(filter), page, this.now());
  }

  /** Issues a new certificate; the previous one is superseded (in the CRL with reason superseded). */
  async rotate(
    input: { agentName: string; csrPem?: string | undefined; expectedVersion?: number | undefined },
    actor: Actor,
    scope?: OwnerScope,
  ): Promise<Issued & { previousFingerprint: string }> {
    validateAgentName(input.agentName, REGISTERED_NAME);
    // Refused before a certificate is signed; the check inside the transaction is the one that counts.
    if (scope) checkScope((await this.store.findAgent(input.agentName)) ?? missing(input.agentName), scope);
    return this.reissue(input, actor, 'agent.rotated', undefined, scope);
  }

  /**
   * The agent renews its own certificate with a new key, authenticated by the certificate it presented (which must
   * still be its current one); that certificate is superseded.
   */
  async renew(
    input: { agentName: string; csrPem: string; presentedFingerprint: string },
    actor: Actor,
  ): Promise<Issued & { previousFingerprint: string }> {
    if (!input.csrPem) throw invalidArgument('csr_pem', 'is required to renew (the registry makes no keys for renewals)');
    return this.reissue(input, actor, 'agent.renewed', input.presentedFingerprint);
  }

  private async reissue(
    input: { agentName: string; csrPem?: string | undefined; expectedVersion?: number | undefined },
    actor: Actor,
    eventType: 'agent.rotated' | 'agent.renewed',
    presentedFingerprint?: string,
    scope?: OwnerScope,
  ): Promise<Issued & { previousFingerprint: string }> {
    validateAgentName(input.agentName, REGISTERED_NAME);
    const expectedVersion = checkExpectedVersion(input.expectedVersion ?? 0);
    const { key, privateKeyPem, keySource } = await this.keyFor(input.csrPem);
    const now = this.now();
    const certificate = await this.issue(input.agentName, key, now);
    const result = await this.change(async (tx) => {
      const before = await this.mustExist(tx.lockAgent(input.agentName), input.agentName);
      if (presentedFingerprint !== undefined && before.certificate?.fingerprint !== presentedFingerprint) {
        this.checkChangeable(before, undefined);
        throw new DomainError('certificate_superseded', `the presented certificate is no longer ${before.name}'s current one`);
      }
      const how = { eventType, actor, keySource, keyAlgorithm: key.algorithm, expectedVersion, scope };
      return this.recordReissue(tx, before, certificate, how, now);
    });
    this.options.onCertificatesChanged?.();
    return { ...result, certPem: certificate.pem, privateKeyPem };
  }

  /**
   * Accepts a rotation to finish in the background: the agent keeps its current certificate until a worker runs the
   * operation, which checks the agent (scope, state, expected version) again when it records the new one.
   */
  async rotateLater(
    input: { agentName: string; csrPem?: string | undefined; expectedVersion?: number | undefined },
    actor: Actor,
    scope?: OwnerScope,
  ): Promise<Accepted> {
    validateAgentName(input.agentName, REGISTERED_NAME);
    const expectedVersion = checkExpectedVersion(input.expectedVersion ?? 0);
    if (scope) checkScope((await this.store.findAgent(input.agentName)) ?? missing(input.agentName), scope);
    const { key, privateKeyPem, keySource } = await this.keyFor(input.csrPem);
    const now = this.now();
    const { id, agent } = await this.store.transaction(async (tx) => {
      const before = await this.mustExist(tx.lockAgent(input.agentName), input.agentName);
      this.checkReissuable(before, scope, expectedVersion);
      const operation = this.newOperation(
        { kind: 'rotate', agentName: before.name, owner: before.owner, actor, key, keySource, expectedVersion, scopeOwner: scope?.owner },
        now,
      );
      await tx.insertOperation(operation);
      return { id: operation.id, agent: before };
    });
    await this.options.onAccepted?.(id);
    return { agent, operationId: id, privateKeyPem };
  }

  /** In the change's transaction: the new certificate becomes the agent's, the one before it is superseded. */
  private async recordReissue(
    tx: RegistryTx,
    before: AgentRecord,
    certificate: IssuedCertificate,
    how: {
      eventType: 'agent.rotated' | 'agent.renewed';
      actor: Actor;
      keySource: string;
      keyAlgorithm: string;
      expectedVersion: number | undefined;
      scope: OwnerScope;
      operationId?: string;
    },
    now: Date,
  ): Promise<Recorded & { previousFingerprint: string }> {
    this.checkReissuable(before, how.scope, how.expectedVersion);
    const created = await tx.insertCertificate(before.id, certificate, now);
    const previousFingerprint = before.certificate?.fingerprint ?? '';
    if (before.certificate) await tx.retireCertificate(before.certificate.id, 'superseded', now);
    await tx.updateAgent(before, { currentCertificateId: created.id }, now);
    const agent = await this.mustExist(tx.lockAgent(before.name), before.name);
    const metadata = {
      previous_fingerprint: previousFingerprint,
      fingerprint: certificate.fingerprint,
      serial: certificate.serial,
      key_source: how.keySource,
      key_algorithm: how.keyAlgorithm,
      ...(how.operationId && { operation_id: how.operationId }),
    };
    return { ...(await this.record(tx, { eventType: how.eventType, actor: how.actor, agent, metadata }, now)), previousFingerprint };
  }

  private checkReissuable(agent: AgentRecord, scope: OwnerScope, expectedVersion: number | undefined): void {
    checkScope(agent, scope);
    this.checkChangeable(agent, expectedVersion);
    if (!agent.certificate) throw agentPending(agent.name);
  }

  async operation(id: string): Promise<OperationRecord> {
    const operation = await this.store.findOperation(id);
    if (operation === undefined) throw operationNotFound(id);
    return operation;
  }

  /** Operations accepted before `before` and still pending: the ones whose job may have been lost. */
  pendingOperations(before: Date): Promise<string[]> {
    return this.store.listPendingOperations(before, 1000);
  }

  /** Forgets operations that ended before `before` (their changes stay in the audit trail and the log). */
  pruneOperations(before: Date): Promise<number> {
    return this.store.pruneOperations(before);
  }

  /**
   * Runs an accepted operation's steps: issue (the certificate is signed and kept in the operation) and record (in
   * one transaction: the certificate, audit event and log leaf, and the operation marked succeeded). An operation
   * that has ended is left as it is, so a run repeated after a crash records nothing twice. A rule the change breaks
   * now (the agent was revoked meanwhile, its version moved) fails the operation at once; any other error is thrown
   * for the queue to retry, unless this is the last attempt (`final`), which fails the operation with it.
   */
  async runOperation(id: string, final: boolean): Promise<void> {
    const operation = await this.store.findOperation(id);
    if (operation === undefined) throw operationNotFound(id);
    if (operation.state !== 'pending') return;
    await this.store.countOperationAttempt(id, this.now());
    try {
      const pem = operation.certificatePem ?? (await this.issueForOperation(operation));
      await this.recordOperation(operation, issuedFromPem(pem));
    } catch (error) {
      if (error instanceof DomainError) await this.failOperation(operation, error.code, error.message);
      else if (final) await this.failOperation(operation, 'attempts_exhausted', `the last attempt failed: ${(error as Error).message ?? String(error)}`);
      else throw error;
    }
  }

  private async issueForOperation(operation: OperationRecord): Promise<string> {
    const certificate = await this.issue(operation.agentName, { publicKey: Buffer.from(operation.publicKey), algorithm: operation.keyAlgorithm }, this.now());
    return (await this.store.keepIssuedCertificate(operation.id, certificate.pem, this.now())) ?? certificate.pem;
  }

  private async recordOperation(operation: OperationRecord, certificate: IssuedCertificate): Promise<void> {
    const now = this.now();
    const how = { actor: operation.actor, keySource: operation.keySource, keyAlgorithm: operation.keyAlgorithm, operationId: operation.id };
    await this.change(async (tx) => {
      const current = await tx.lockOperation(operation.id);
      if (current?.state !== 'pending') return { agent: await this.mustExist(tx.lockAgent(operation.agentName), operation.agentName), logIndex: undefined };
      const before = await this.mustExist(tx.lockAgent(operation.agentName), operation.agentName);
      let recorded: Recorded;
      if (operation.kind === 'register') {
        if (before.state === 'revoked') throw agentRevoked(before.name);
        await tx.insertFirstCertificate(before.id, certificate, now);
        const agent = await this.mustExist(tx.lockAgent(before.name), before.name);
        recorded = await this.recordRegistration(tx, agent, certificate, { ...how, admission: operation.admission }, now);
      } else {
        const scope = operation.scopeOwner === undefined ? undefined : { owner: operation.scopeOwner };
        recorded = await this.recordReissue(tx, before, certificate, { ...how, eventType: 'agent.rotated', expectedVersion: operation.expectedVersion, scope }, now);
      }
      await tx.finishOperation(operation.id, { state: 'succeeded', logIndex: recorded.logIndex }, now);
      return recorded;
    });
    if (operation.kind === 'rotate') this.options.onCertificatesChanged?.();
  }

  /** Ends the operation as failed, and frees the name a failed registration held. */
  private async failOperation(operation: OperationRecord, errorCode: string, errorMessage: string): Promise<void> {
    const now = this.now();
    await this.store.transaction(async (tx) => {
      const current = await tx.lockOperation(operation.id);
      if (current?.state !== 'pending') return;
      const agent = await tx.lockAgent(operation.agentName);
      // A registration that failed frees its name, unless its agent was revoked meanwhile (the revocation stays).
      if (operation.kind === 'register' && agent?.state === 'active' && agent.certificate === null) await tx.deletePendingAgent(agent.id);
      await tx.finishOperation(operation.id, { state: 'failed', errorCode, errorMessage }, now);
      const metadata = { operation_id: operation.id, kind: operation.kind, owner: operation.owner, error_code: errorCode, error: errorMessage };
      await tx.appendAudit({ eventType: 'operation.failed', actor: operation.actor, agentName: operation.agentName, metadata }, now);
    });
  }

  private newOperation(
    fields: Pick<NewOperation, 'kind' | 'agentName' | 'owner' | 'actor' | 'keySource'> & Partial<Pick<NewOperation, 'expectedVersion' | 'scopeOwner' | 'admission'>> & { key: RequestedKey },
    now: Date,
  ): NewOperation {
    const { key, ...rest } = fields;
    return { expectedVersion: undefined, scopeOwner: undefined, admission: {}, ...rest, id: randomUUID(), publicKey: key.publicKey, keyAlgorithm: key.algorithm, at: now };
  }

  async revoke(
    input: { agentName: string; reason?: string | undefined; expectedVersion?: number | undefined },
    actor: Actor,
    scope?: OwnerScope,
  ): Promise<Recorded> {
    validateAgentName(input.agentName, REGISTERED_NAME);
    const reason = parseRevocationReason(input.reason ?? '');
    const expectedVersion = checkExpectedVersion(input.expectedVersion ?? 0);
    const now = this.now();
    const recorded = await this.change(async (tx) => {
      const before = await this.mustExist(tx.lockAgent(input.agentName), input.agentName);
      checkScope(before, scope);
      this.checkChangeable(before, expectedVersion);
      await tx.updateAgent(before, { state: 'revoked', revokedAt: now, revocationReason: reason }, now);
      if (before.certificate) await tx.retireCertificate(before.certificate.id, reason, now);
      const agent = await this.mustExist(tx.lockAgent(before.name), before.name);
      const metadata = { reason, fingerprint: before.certificate?.fingerprint ?? '' };
      return this.record(tx, { eventType: 'agent.revoked', actor, agent, metadata, reason }, now);
    });
    this.options.onCertificatesChanged?.();
    return recorded;
  }

  async update(input: UpdateInput, actor: Actor, scope?: OwnerScope): Promise<Recorded> {
    validateAgentName(input.agentName, REGISTERED_NAME);
    const changes = {
      ...(input.capabilities && { capabilities: checkCapabilities(input.capabilities) }),
      ...(input.description !== undefined && { description: checkDescription(input.description) }),
      ...(input.endpoints && { endpoints: checkEndpoints(input.endpoints) }),
    };
    const expectedVersion = checkExpectedVersion(input.expectedVersion ?? 0);
    const now = this.now();
    return this.change(async (tx) => {
      const before = await this.mustExist(tx.lockAgent(input.agentName), input.agentName);
      checkScope(before, scope);
      this.checkChangeable(before, expectedVersion);
      await tx.updateAgent(before, changes, now);
      const agent = await this.mustExist(tx.lockAgent(before.name), before.name);
      const metadata = { changed: Object.keys(changes), ...changes };
      return this.record(tx, { eventType: 'agent.updated', actor, agent, metadata }, now);
    });
  }

  /** Runs one change in a transaction; once it commits, the log and onChanged are told. */
  private async change<T extends Recorded>(work: (tx: RegistryTx) => Promise<T>): Promise<T> {
    const result = await this.store.transaction(work);
    this.journal.committed();
    this.options.onChanged?.(result.agent.name);
    return result;
  }

  /** Writes a change's audit event and, when the log is on, its leaf, in the change's own transaction. */
  private async record(
    tx: RegistryTx,
    change: { eventType: AuditEventType; actor: Actor; agent: AgentRecord; metadata: Record<string, unknown>; reason?: string },
    now: Date,
  ): Promise<Recorded> {
    const { eventType, actor, agent, metadata } = change;
    const leaf = {
      fingerprint: agent.certificate?.fingerprint ?? '',
      serial: agent.certificate?.serial ?? '',
      status: statusOf(agent, now),
      reason: change.reason ?? '',
    };
    const logIndex = await this.journal.write(tx, { eventType, actor, agentName: agent.name, auditMetadata: metadata, leaf }, now);
    return { agent, logIndex };
  }

  auditEvents(filter: AuditFilter, page: Page): Promise<{ events: AuditEventRecord[]; total: number }> {
    return this.store.listAuditEvents(checkAuditFilter(filter), page);
  }

  private checkChangeable(agent: AgentRecord, expectedVersion: number | undefined): void {
    if (agent.state === 'revoked') throw agentRevoked(agent.name);
    if (expectedVersion !== undefined && expectedVersion !== agent.version) {
      throw versionConflict(agent.name, expectedVersion, agent.version);
    }
  }

  private async mustExist(found: Promise<AgentRecord | undefined>, agentName: string): Promise<AgentRecord> {
    const agent = await found;
    if (!agent) throw agentNotFound(agentName);
    return agent;
  }

  private async keyFor(
    csrPem: string | undefined,
  ): Promise<{ key: RequestedKey; privateKeyPem?: string; keySource: 'csr' | 'generated' }> {
    if (csrPem) return { key: await parseCsr(csrPem), keySource: 'csr' };
    const generated = await generateAgentKey();
    return { key: generated.key, privateKeyPem: generated.privateKeyPem, keySource: 'generated' };
  }

  private issue(agentName: string, key: RequestedKey, now: Date): Promise<IssuedCertificate> {
    return issueAgentCertificate(this.options.ca, {
      agentName,
      key,
      validityDays: this.options.certValidityDays,
      now,
    });
  }
}

/** The owner a registration is made under: an owner key's own, whether the request names it or leaves it empty. */
function ownerFor(requested: string, scope: OwnerScope): string {
  if (scope === undefined || requested === '' || requested === scope.owner) return scope?.owner ?? requested;
  throw new DomainError('permission_denied', `owner: this key registers agents only under owner ${JSON.stringify(scope.owner)}`);
}

function checkScope(agent: AgentRecord, scope: OwnerScope): void {
  if (scope !== undefined && agent.owner !== scope.owner) {
    throw new DomainError('permission_denied', `agent ${agent.name} belongs to another owner; this key manages only ${JSON.stringify(scope.owner)}'s agents`);
  }
}

function missing(agentName: string): never {
  throw agentNotFound(agentName);
}
