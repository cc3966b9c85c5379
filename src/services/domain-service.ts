import { create } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import {
  type Domain,
  DomainMethod,
  DomainSchema,
  type DomainService,
  DomainStatus,
  type CreateDomainChallengeRequest,
  type ListDomainsRequest,
  type VerifyDomainRequest,
} from '../../gen/atr/v1/domain_pb.js';
import type { Domains } from '../domains/domains.ts';
import type { DomainMethod as Method, DomainRecord, DomainStatus as Status } from '../domains/store.ts';
import { actorOf, ownerScopeOf } from './context.ts';
import { timestamp } from './convert.ts';
import { decodePageToken, encodePageToken, pageSize } from './pagination.ts';

const STATUS_TO_PROTO: Record<Status, DomainStatus> = {
  verified: DomainStatus.VERIFIED,
  flagged: DomainStatus.FLAGGED,
  suspended: DomainStatus.SUSPENDED,
};

const METHOD_TO_PROTO: Record<Method, DomainMethod> = { dns: DomainMethod.DNS, http: DomainMethod.HTTP };

/** DomainService: translates messages to Domains calls and records back to messages. */
export class DomainServiceImpl implements ServiceImpl<typeof DomainService> {
  constructor(private readonly domains: Domains) {}

  async createDomainChallenge(request: CreateDomainChallengeRequest, context: HandlerContext) {
    const challenge = await this.domains.createChallenge({ domain: request.domain, owner: request.owner }, callerOf(context));
    return {
      challenge: {
        domain: challenge.domain,
        owner: challenge.owner,
        token: challenge.token,
        dnsName: challenge.dnsName,
        dnsValue: challenge.dnsValue,
        httpUrl: challenge.httpUrl,
        httpBody: challenge.httpBody,
        expiresAt: timestamp(challenge.expiresAt),
      },
    };
  }

  async verifyDomain(request: VerifyDomainRequest, context: HandlerContext) {
    const method = (Object.keys(METHOD_TO_PROTO) as Method[]).find((name) => METHOD_TO_PROTO[name] === request.method);
    const verified = await this.domains.verify({ domain: request.domain, owner: request.owner, method }, callerOf(context));
    return { domain: domainToProto(verified.domain), logIndex: logIndexOf(verified.logIndex) };
  }

  async listDomains(request: ListDomainsRequest) {
    const limit = pageSize('page_size', request.pageSize);
    const { domains, total } = await this.domains.list({ owner: request.owner || undefined }, { limit, afterId: decodePageToken(request.pageToken) });
    const last = domains.at(-1);
    return {
      domains: domains.map(domainToProto),
      total,
      nextPageToken: last && domains.length === limit ? encodePageToken(last.id) : '',
    };
  }

  async removeDomain(request: { domain: string }, context: HandlerContext) {
    const removed = await this.domains.remove(request.domain, callerOf(context));
    return { domain: domainToProto(removed.domain), logIndex: logIndexOf(removed.logIndex) };
  }
}

function callerOf(context: HandlerContext) {
  return { actor: actorOf(context), scope: ownerScopeOf(context) };
}

function logIndexOf(index: number | undefined): bigint | undefined {
  return index === undefined ? undefined : BigInt(index);
}

export function domainToProto(record: DomainRecord): Domain {
  const { evidence } = record;
  return create(DomainSchema, {
    domain: record.domain,
    owner: record.owner,
    status: STATUS_TO_PROTO[record.status],
    verifiedAt: timestamp(record.verifiedAt),
    method: METHOD_TO_PROTO[record.method],
    lastCheckedAt: timestamp(record.lastCheckedAt),
    nextCheckAt: timestamp(record.nextCheckAt),
    flaggedAt: timestamp(record.flaggedAt),
    failure: record.failure,
    evidence: {
      method: METHOD_TO_PROTO[evidence.method],
      resolvers: evidence.resolvers.map((answer) => ({ ...answer })),
      httpUrl: evidence.httpUrl,
      httpAddress: evidence.httpAddress,
      whois: evidence.whois && { ...evidence.whois },
      checkedAt: timestamp(new Date(evidence.checkedAt)),
    },
  });
}
