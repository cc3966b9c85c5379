import { DomainError, agentNotFound, agentRevoked, invalidArgument, versionConflict } from '../errors.ts';
import type { CertificateAuthority } from '../pki/ca.ts';
import { parseCsr, type RequestedKey } from '../pki/csr.ts';
import { type IssuedCertificate, issueAgentCertificate } from '../pki/issue.ts';
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
    validateAgentName(input.agentName, this.newNames);
    const owner = checkOwner(ownerFor(input.owner, scope));
    const capabilities = checkCapabilities(input.capabilities);
    const description = checkDescription(input.description ?? '');
    const endpoints = checkEndpoints(input.endpoints ?? []);
    const admission = (await this.options.registrationGate?.admit(input.agentName, owner, scope === undefined)) ?? {};
    const { key, privateKeyPem, keySource } = await this.keyFor(input.csrPem);
    const now = this.now();
    const certificate = await this.issue(input.agentName, key, now);
    const recorded = await this.change(async (tx) => {
      await tx.insertAgent({ name: input.agentName, owner, capabilities, description, endpoints, at: now }, certificate);
      const agent = await this.mustExist(tx.lockAgent(input.agentName), input.agentName);
      const metadata = { owner, capabilities, fingerprint: certificate.fingerprint, serial: certificate.serial, key_source: keySource, key_algorithm: key.algorithm, ...admission };
      return this.record(tx, { eventType: 'agent.registered', actor, agent, metadata }, now);
    });
    return { ...recorded, certPem: certificate.pem, privateKeyPem };
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
      checkScope(before, scope);
      this.checkChangeable(before, expectedVersion);
      if (presentedFingerprint !== undefined && before.certificate?.fingerprint !== presentedFingerprint) {
        throw new DomainError('certificate_superseded', `the presented certificate is no longer ${before.name}'s current one`);
      }
      const created = await tx.insertCertificate(before.id, certificate, now);
      const previousFingerprint = before.certificate?.fingerprint ?? '';
      if (before.certificate) await tx.retireCertificate(before.certificate.id, 'superseded', now);
      await tx.updateAgent(before, { currentCertificateId: created.id }, now);
      const agent = await this.mustExist(tx.lockAgent(before.name), before.name);
      const metadata = { previous_fingerprint: previousFingerprint, fingerprint: certificate.fingerprint, serial: certificate.serial, key_source: keySource, key_algorithm: key.algorithm };
      return { ...(await this.record(tx, { eventType, actor, agent, metadata }, now)), previousFingerprint };
    });
    this.options.onCertificatesChanged?.();
    return { ...result, certPem: certificate.pem, privateKeyPem };
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
