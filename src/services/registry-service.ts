import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import type { AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import type { JsonObject } from '@bufbuild/protobuf';
import type {
  ListAgentsRequest,
  RegisterAgentRequest,
  RegistryService,
  UpdateAgentRequest,
} from '../../gen/atr/v1/registry_pb.js';
import type { CertificateAuthority } from '../pki/ca.ts';
import type { AgentRecord } from '../registry/records.ts';
import type { Accepted, Recorded, Registry, UpdateInput } from '../registry/registry.ts';
import { DomainError, invalidArgument, quoted } from '../errors.ts';
import { actorOf, ownerScopeOf, peerAgentOf } from './context.ts';
import { type AgentStandingSource, agentToProto, statusFromProto, timestamp } from './convert.ts';

/** The records DNS holds for an agent, as GetAgentDnsRecords answers them. */
export type DnsRecordsSource = (agent: AgentRecord) => Promise<{ dnsStatus: string; zone: string; records: readonly { name: string; type: string; ttl: number; data: string }[] }>;
import { decodePageToken, encodePageToken, offsetOf, pageSize } from './pagination.ts';

const UPDATABLE_FIELDS = ['capabilities', 'description', 'endpoints'] as const;

/** RegistryService: translates messages to Registry calls and records back to messages. */
export class RegistryServiceImpl implements ServiceImpl<typeof RegistryService> {
  constructor(
    private readonly registry: Registry,
    private readonly ca: CertificateAuthority,
    private readonly dns: { readonly standing?: AgentStandingSource; readonly records?: DnsRecordsSource } = {},
    /** ASYNC_PROCESSING_ENABLED: registrations and rotations are accepted and finished by a worker, unless a request asks to wait. */
    private readonly asyncProcessing = false,
  ) {}

  private async agents(records: readonly AgentRecord[]) {
    const now = new Date();
    const standing = (await this.dns.standing?.(records)) ?? new Map();
    return records.map((record) => agentToProto(record, this.ca.trustDomain, now, standing.get(record.name)));
  }

  private async agent(record: AgentRecord) {
    return (await this.agents([record]))[0];
  }

  async registerAgent(request: RegisterAgentRequest, context: HandlerContext) {
    const input = {
      agentName: request.agentName,
      owner: request.owner,
      capabilities: request.capabilities,
      csrPem: request.csrPem,
      description: request.description,
      endpoints: request.endpoints,
    };
    if (this.asyncProcessing && !request.synchronous) {
      const accepted = await this.registry.registerLater(input, actorOf(context), ownerScopeOf(context));
      return { ...(await this.acceptedResponse(accepted)), chainPem: this.ca.trustBundlePem };
    }
    const issued = await this.registry.register(input, actorOf(context), ownerScopeOf(context));
    return {
      agent: await this.agent(issued.agent),
      certPem: issued.certPem,
      chainPem: this.ca.trustBundlePem,
      privateKeyPem: issued.privateKeyPem ?? '',
      logIndex: logIndexOf(issued),
    };
  }

  async getAgent(request: { agentName: string }) {
    return { agent: await this.agent(await this.registry.get(request.agentName)) };
  }

  async listAgents(request: ListAgentsRequest) {
    const filter = {
      owner: request.owner || undefined,
      status: statusFilterOf(request.status),
      capability: request.capability || undefined,
    };
    const keyset = request.pageToken !== '' || request.pageSize !== 0;
    if (keyset && (request.limit !== 0 || request.offset !== 0)) {
      throw invalidArgument('page_size, page_token', 'cannot be combined with limit and offset');
    }
    const limit = keyset ? pageSize('page_size', request.pageSize) : pageSize('limit', request.limit);
    const offset = keyset ? 0 : offsetOf(request.offset);
    const { agents, total } = await this.registry.list(filter, {
      limit,
      offset,
      afterId: keyset ? decodePageToken(request.pageToken) : undefined,
    });
    const last = agents.at(-1);
    return {
      agents: await this.agents(agents),
      total,
      limit,
      offset,
      nextPageToken: keyset && last && agents.length === limit ? encodePageToken(last.id) : '',
    };
  }

  async getAgentDnsRecords(request: { agentName: string }) {
    const agent = await this.registry.get(request.agentName);
    if (this.dns.records === undefined) throw new DomainError('dns_disabled', 'this registry publishes no DNS records (DNS_ZONES is empty)');
    const { dnsStatus, zone, records } = await this.dns.records(agent);
    return { agentName: agent.name, dnsStatus, zone, records: [...records] };
  }

  async getAgentCertificate(request: { agentName: string }) {
    const agent = await this.registry.get(request.agentName);
    const certificate = agent.certificate;
    return {
      agentName: agent.name,
      certPem: certificate?.pem ?? '',
      chainPem: this.ca.trustBundlePem,
      certFingerprint: certificate?.fingerprint ?? '',
      certSerial: certificate?.serial ?? '',
      issuedAt: timestamp(certificate?.notBefore),
      expiresAt: timestamp(certificate?.notAfter),
    };
  }

  async rotateCertificate(
    request: { agentName: string; csrPem: string; expectedVersion: number; synchronous: boolean },
    context: HandlerContext,
  ) {
    if (this.asyncProcessing && !request.synchronous) {
      const accepted = await this.registry.rotateLater(request, actorOf(context), ownerScopeOf(context));
      return { ...(await this.acceptedResponse(accepted)), chainPem: this.ca.trustBundlePem };
    }
    const rotated = await this.registry.rotate(request, actorOf(context), ownerScopeOf(context));
    return {
      agent: await this.agent(rotated.agent),
      certPem: rotated.certPem,
      chainPem: this.ca.trustBundlePem,
      privateKeyPem: rotated.privateKeyPem ?? '',
      previousCertFingerprint: rotated.previousFingerprint,
      logIndex: logIndexOf(rotated),
    };
  }

  private async acceptedResponse(accepted: Accepted) {
    return { agent: await this.agent(accepted.agent), operationId: accepted.operationId, privateKeyPem: accepted.privateKeyPem ?? '' };
  }

  async revokeAgent(request: { agentName: string; reason: string; expectedVersion: number }, context: HandlerContext) {
    const revoked = await this.registry.revoke(request, actorOf(context), ownerScopeOf(context));
    return { agent: await this.agent(revoked.agent), logIndex: logIndexOf(revoked) };
  }

  async updateAgent(request: UpdateAgentRequest, context: HandlerContext) {
    const updated = await this.registry.update(updateInput(request), actorOf(context), ownerScopeOf(context));
    return { agent: await this.agent(updated.agent), logIndex: logIndexOf(updated) };
  }

  async whoAmI(_request: unknown, context: HandlerContext) {
    const peer = peerAgentOf(context);
    return { agent: await this.agent(await this.registry.get(peer.name)), certFingerprint: peer.fingerprint, certSerial: peer.serial };
  }

  async renewCertificate(request: { csrPem: string }, context: HandlerContext) {
    const peer = peerAgentOf(context);
    const renewed = await this.registry.renew(
      { agentName: peer.name, csrPem: request.csrPem, presentedFingerprint: peer.fingerprint },
      actorOf(context),
    );
    return {
      agent: await this.agent(renewed.agent),
      certPem: renewed.certPem,
      chainPem: this.ca.trustBundlePem,
      previousCertFingerprint: renewed.previousFingerprint,
      logIndex: logIndexOf(renewed),
    };
  }

  async listAuditEvents(request: { agentName: string; eventType: string; limit: number; offset: number }) {
    const limit = pageSize('limit', request.limit);
    const offset = offsetOf(request.offset);
    const { events, total } = await this.registry.auditEvents(
      { agentName: request.agentName || undefined, eventType: request.eventType || undefined },
      { limit, offset },
    );
    return {
      events: events.map((event) => ({
        id: BigInt(event.id),
        eventType: event.eventType,
        actor: event.actor,
        agentName: event.agentName,
        metadata: event.metadata as JsonObject,
        timestamp: timestamp(event.createdAt),
      })),
      total,
      limit,
      offset,
    };
  }
}

function logIndexOf(recorded: Recorded): bigint | undefined {
  return recorded.logIndex === undefined ? undefined : BigInt(recorded.logIndex);
}

/** A list filter's status: unset (0) means any. */
function statusFilterOf(status: AgentStatus) {
  return status === 0 ? undefined : statusFromProto(status);
}

/** Which fields an update replaces: those in update_mask, or without a mask every field that is set. */
function updateInput(request: UpdateAgentRequest): UpdateInput {
  const paths = request.updateMask?.paths ?? [];
  for (const path of paths) {
    if (!(UPDATABLE_FIELDS as readonly string[]).includes(path)) {
      throw invalidArgument('update_mask', `${quoted(path)} is not one of ${UPDATABLE_FIELDS.join(', ')}`);
    }
  }
  const replaces = (field: (typeof UPDATABLE_FIELDS)[number], isSet: boolean) =>
    paths.length > 0 ? paths.includes(field) : isSet;
  const input: UpdateInput = {
    agentName: request.agentName,
    expectedVersion: request.expectedVersion,
    capabilities: replaces('capabilities', request.capabilities.length > 0) ? request.capabilities : undefined,
    description: replaces('description', request.description !== '') ? request.description : undefined,
    endpoints: replaces('endpoints', request.endpoints.length > 0) ? request.endpoints : undefined,
  };
  if (input.capabilities === undefined && input.description === undefined && input.endpoints === undefined) {
    throw invalidArgument('update_mask', 'nothing to update: set capabilities, description or endpoints');
  }
  return input;
}
