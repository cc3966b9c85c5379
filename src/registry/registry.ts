import { agentNotFound, agentRevoked, versionConflict } from '../errors.ts';
import type { CertificateAuthority } from '../pki/ca.ts';
import { parseCsr, type RequestedKey } from '../pki/csr.ts';
import { type IssuedCertificate, issueAgentCertificate } from '../pki/issue.ts';
import { generateAgentKey } from '../pki/keys.ts';
import { parseRevocationReason } from '../pki/revocation-reason.ts';
import { checkCapabilities, checkDescription, checkEndpoints, checkExpectedVersion, checkOwner } from './fields.ts';
import { validateAgentName } from './names.ts';
import type { AgentRecord, AuditEventRecord } from './records.ts';
import type { AgentFilter, AuditFilter, Page, RegistryStore } from './store.ts';

export interface RegistryOptions {
  readonly store: RegistryStore;
  readonly ca: CertificateAuthority;
  readonly certValidityDays: number;
  /** Called after every change to an agent's certificates (rotate, revoke), e.g. to refresh the CRL. */
  readonly onCertificatesChanged?: () => void;
  readonly now?: () => Date;
}

export interface RegisterInput {
  readonly agentName: string;
  readonly owner: string;
  readonly capabilities: readonly string[];
  readonly csrPem?: string | undefined;
  readonly description?: string | undefined;
  readonly endpoints?: readonly string[] | undefined;
}

/** A newly issued certificate; privateKeyPem only when the registry generated the key (returned once). */
export interface Issued {
  readonly agent: AgentRecord;
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

/** The agent lifecycle: register, rotate, revoke, update. Each change and its audit event commit together. */
export class Registry {
  private readonly store: RegistryStore;
  private readonly now: () => Date;

  constructor(private readonly options: RegistryOptions) {
    this.store = options.store;
    this.now = options.now ?? (() => new Date());
  }

  async register(input: RegisterInput, actor: Actor): Promise<Issued> {
    validateAgentName(input.agentName);
    const owner = checkOwner(input.owner);
    const capabilities = checkCapabilities(input.capabilities);
    const description = checkDescription(input.description ?? '');
    const endpoints = checkEndpoints(input.endpoints ?? []);
    const { key, privateKeyPem, keySource } = await this.keyFor(input.csrPem);
    const now = this.now();
    const certificate = await this.issue(input.agentName, key, now);
    const agent = await this.store.transaction(async (tx) => {
      await tx.insertAgent({ name: input.agentName, owner, capabilities, description, endpoints, at: now }, certificate);
      await tx.appendAudit(
        {
          eventType: 'agent.registered',
          actor,
          agentName: input.agentName,
          metadata: { owner, capabilities, fingerprint: certificate.fingerprint, serial: certificate.serial, key_source: keySource, key_algorithm: key.algorithm },
        },
        now,
      );
      return this.mustLock(tx.lockAgent(input.agentName), input.agentName);
    });
    return { agent, certPem: certificate.pem, privateKeyPem };
  }

  async get(agentName: string): Promise<AgentRecord> {
    validateAgentName(agentName);
    const agent = await this.store.findAgent(agentName);
    if (!agent) throw agentNotFound(agentName);
    return agent;
  }

  list(filter: AgentFilter, page: Page): Promise<{ agents: AgentRecord[]; total: number }> {
    return this.store.listAgents(filter, page, this.now());
  }

  /** Issues a new certificate; the previous one is superseded (in the CRL with reason superseded). */
  async rotate(
    input: { agentName: string; csrPem?: string | undefined; expectedVersion?: number | undefined },
    actor: Actor,
  ): Promise<Issued & { previousFingerprint: string }> {
    validateAgentName(input.agentName);
    const expectedVersion = checkExpectedVersion(input.expectedVersion ?? 0);
    const { key, privateKeyPem, keySource } = await this.keyFor(input.csrPem);
    const now = this.now();
    const certificate = await this.issue(input.agentName, key, now);
    const result = await this.store.transaction(async (tx) => {
      const agent = await this.mustLock(tx.lockAgent(input.agentName), input.agentName);
      this.checkChangeable(agent, expectedVersion);
      const created = await tx.insertCertificate(agent.id, certificate, now);
      const previousFingerprint = agent.certificate?.fingerprint ?? '';
      if (agent.certificate) await tx.retireCertificate(agent.certificate.id, 'superseded', now);
      await tx.updateAgent(agent, { currentCertificateId: created.id }, now);
      await tx.appendAudit(
        {
          eventType: 'agent.rotated',
          actor,
          agentName: agent.name,
          metadata: { previous_fingerprint: previousFingerprint, fingerprint: certificate.fingerprint, serial: certificate.serial, key_source: keySource, key_algorithm: key.algorithm },
        },
        now,
      );
      return { agent: await this.mustLock(tx.lockAgent(agent.name), agent.name), previousFingerprint };
    });
    this.options.onCertificatesChanged?.();
    return { ...result, certPem: certificate.pem, privateKeyPem };
  }

  async revoke(
    input: { agentName: string; reason?: string | undefined; expectedVersion?: number | undefined },
    actor: Actor,
  ): Promise<AgentRecord> {
    validateAgentName(input.agentName);
    const reason = parseRevocationReason(input.reason ?? '');
    const expectedVersion = checkExpectedVersion(input.expectedVersion ?? 0);
    const now = this.now();
    const agent = await this.store.transaction(async (tx) => {
      const agent = await this.mustLock(tx.lockAgent(input.agentName), input.agentName);
      this.checkChangeable(agent, expectedVersion);
      await tx.updateAgent(agent, { state: 'revoked', revokedAt: now, revocationReason: reason }, now);
      if (agent.certificate) await tx.retireCertificate(agent.certificate.id, reason, now);
      await tx.appendAudit(
        { eventType: 'agent.revoked', actor, agentName: agent.name, metadata: { reason, fingerprint: agent.certificate?.fingerprint ?? '' } },
        now,
      );
      return this.mustLock(tx.lockAgent(agent.name), agent.name);
    });
    this.options.onCertificatesChanged?.();
    return agent;
  }

  async update(input: UpdateInput, actor: Actor): Promise<AgentRecord> {
    validateAgentName(input.agentName);
    const changes = {
      ...(input.capabilities && { capabilities: checkCapabilities(input.capabilities) }),
      ...(input.description !== undefined && { description: checkDescription(input.description) }),
      ...(input.endpoints && { endpoints: checkEndpoints(input.endpoints) }),
    };
    const expectedVersion = checkExpectedVersion(input.expectedVersion ?? 0);
    const now = this.now();
    return this.store.transaction(async (tx) => {
      const agent = await this.mustLock(tx.lockAgent(input.agentName), input.agentName);
      this.checkChangeable(agent, expectedVersion);
      await tx.updateAgent(agent, changes, now);
      await tx.appendAudit(
        { eventType: 'agent.updated', actor, agentName: agent.name, metadata: { changed: Object.keys(changes), ...changes } },
        now,
      );
      return this.mustLock(tx.lockAgent(agent.name), agent.name);
    });
  }

  auditEvents(filter: AuditFilter, page: Page): Promise<{ events: AuditEventRecord[]; total: number }> {
    return this.store.listAuditEvents(filter, page);
  }

  private checkChangeable(agent: AgentRecord, expectedVersion: number | undefined): void {
    if (agent.state === 'revoked') throw agentRevoked(agent.name);
    if (expectedVersion !== undefined && expectedVersion !== agent.version) {
      throw versionConflict(agent.name, expectedVersion, agent.version);
    }
  }

  private async mustLock(found: Promise<AgentRecord | undefined>, agentName: string): Promise<AgentRecord> {
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
