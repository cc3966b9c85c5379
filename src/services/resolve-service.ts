import type { ServiceImpl } from '@connectrpc/connect';
import type { ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import type { CertificateAuthority } from '../pki/ca.ts';
import { statusOf } from '../registry/records.ts';
import type { Registry } from '../registry/registry.ts';
import { spiffeIdOf } from '../pki/spiffe-id.ts';
import { statusToProto, timestamp } from './convert.ts';

export class ResolveServiceImpl implements ServiceImpl<typeof ResolveService> {
  constructor(
    private readonly registry: Registry,
    private readonly ca: CertificateAuthority,
  ) {}

  async resolveAgent(request: { agentName: string }) {
    const agent = await this.registry.get(request.agentName);
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
    };
  }
}
