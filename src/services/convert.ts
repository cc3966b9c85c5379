import { create } from '@bufbuild/protobuf';
import { spiffeIdOf } from '../pki/spiffe-id.ts';
import { timestampFromDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { type Agent, AgentSchema, AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import type { AgentStatus as DomainStatus, AgentRecord } from '../registry/records.ts';
import { statusOf } from '../registry/records.ts';

// Domain records to API messages and back; the only place that knows both shapes.

const STATUS_TO_PROTO: Record<DomainStatus, AgentStatus> = {
  active: AgentStatus.ACTIVE,
  revoked: AgentStatus.REVOKED,
  expired: AgentStatus.EXPIRED,
  pending: AgentStatus.PENDING,
};

export function statusToProto(status: DomainStatus | undefined): AgentStatus {
  return status ? STATUS_TO_PROTO[status] : AgentStatus.UNSPECIFIED;
}

export function statusFromProto(status: AgentStatus): DomainStatus | undefined {
  return (Object.keys(STATUS_TO_PROTO) as DomainStatus[]).find((name) => STATUS_TO_PROTO[name] === status);
}

export function timestamp(date: Date | null | undefined): Timestamp | undefined {
  return date ? timestampFromDate(date) : undefined;
}

/** What the registry says of an agent beyond its record: whether DNS shows it, how its domain stands. */
export interface AgentStanding {
  readonly dnsStatus?: string;
  readonly domainStatus?: string;
}

/** The standing of each of `agents`, by name; agents it says nothing of are left out. */
export type AgentStandingSource = (agents: readonly AgentRecord[]) => Promise<ReadonlyMap<string, AgentStanding>>;

export function agentToProto(agent: AgentRecord, trustDomain: string, now: Date = new Date(), standing: AgentStanding = {}): Agent {
  return create(AgentSchema, {
    ...standing,
    agentName: agent.name,
    owner: agent.owner,
    capabilities: [...agent.capabilities],
    status: statusToProto(statusOf(agent, now)),
    certFingerprint: agent.certificate?.fingerprint ?? '',
    certSerial: agent.certificate?.serial ?? '',
    issuedAt: timestamp(agent.certificate?.notBefore),
    expiresAt: timestamp(agent.certificate?.notAfter),
    createdAt: timestamp(agent.createdAt),
    updatedAt: timestamp(agent.updatedAt),
    revokedAt: timestamp(agent.revokedAt),
    revocationReason: agent.revocationReason ?? '',
    version: agent.version,
    description: agent.description,
    endpoints: [...agent.endpoints],
    spiffeId: spiffeIdOf(trustDomain, agent.name),
  });
}
