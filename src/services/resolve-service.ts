import type { ServiceImpl } from '@connectrpc/connect';
import type { ResolveAgentRequest, ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import type { DnsAnswer, DnsResolution } from '../dns/resolution.ts';
import { invalidArgument, quoted } from '../errors.ts';
import type { CertificateAuthority } from '../pki/ca.ts';
import { spiffeIdOf } from '../pki/spiffe-id.ts';
import { statusOf } from '../registry/records.ts';
import { REGISTERED_NAME, validateAgentName } from '../registry/names.ts';
import type { Registry } from '../registry/registry.ts';
import { statusToProto, timestamp } from './convert.ts';

export type ResolveSource = 'registry' | 'dns';
const SOURCES: readonly ResolveSource[] = ['registry', 'dns'];

export class ResolveServiceImpl implements ServiceImpl<typeof ResolveService> {
  constructor(
    private readonly registry: Registry,
    private readonly ca: CertificateAuthority,
    private readonly dns?: { readonly resolution: DnsResolution; readonly defaultSource: ResolveSource },
  ) {}

  async resolveAgent(request: ResolveAgentRequest) {
    if (this.sourceOf(request) === 'dns') {
      validateAgentName(request.agentName, REGISTERED_NAME);
      // DNS that cannot be reached or has no usable record leaves the database to answer.
      const answer = await this.dns?.resolution.resolve(request.agentName).catch(() => undefined);
      if (answer !== undefined) return this.fromDns(request.agentName, answer);
    }
    return this.fromRegistry(request.agentName);
  }

  private sourceOf(request: ResolveAgentRequest): ResolveSource {
    if (request.source === '') return this.dns?.defaultSource ?? 'registry';
    const source = SOURCES.find((name) => name === request.source);
    if (source === undefined) throw invalidArgument('source', `${quoted(request.source)} is not one of ${SOURCES.join(', ')}`);
    return source;
  }

  private async fromRegistry(agentName: string) {
    const agent = await this.registry.get(agentName);
    return {
      agentName: agent.name,
      status: statusToProto(statusOf(agent, new Date())),
      owner: agent.owner,
      capabilities: [...agent.capabilities],
      description: agent.description,
      endpoints: [...agent.endpoints],
      spiffeId: spiffeIdOf(this.ca.trustDomain, agent.name),
      certFingerprint: agent.certificate?.fingerprint ?? '',
      certSerial: agent.certificate?.serial ?? '',
      expiresAt: timestamp(agent.certificate?.notAfter),
      certPem: agent.certificate?.pem ?? '',
      trustDomain: this.ca.trustDomain,
      source: 'registry',
    };
  }

  private fromDns(agentName: string, { record, status, authenticated }: DnsAnswer) {
    return {
      agentName,
      status: statusToProto(status),
      capabilities: [...record.capabilities],
      spiffeId: record.spiffeId,
      certFingerprint: record.fingerprint,
      expiresAt: timestamp(record.expiresAt),
      trustDomain: this.ca.trustDomain,
      source: 'dns',
      dnssecValidated: authenticated,
    };
  }
}
