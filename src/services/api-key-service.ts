import { create } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { type ApiKey, ApiKeyRole, ApiKeySchema, type ApiKeyService } from '../../gen/atr/v1/api_key_pb.js';
import type { ApiKeyRecord } from '../auth/api-key-store.ts';
import type { ApiKeys } from '../auth/api-keys.ts';
import { permissionsOf } from '../auth/access.ts';
import { type Role, principalId } from '../auth/principal.ts';
import { invalidArgument } from '../errors.ts';
import { actorOf, principalKey } from './context.ts';
import { timestamp } from './convert.ts';

const ROLE_TO_PROTO: Record<Role, ApiKeyRole> = {
  admin: ApiKeyRole.ADMIN,
  owner: ApiKeyRole.OWNER,
  reader: ApiKeyRole.READER,
};

/** The access policy GetCallerAccess reports under (API_KEY_ENABLED, PUBLIC_READS). */
export interface AccessPolicy {
  readonly keysRequired: boolean;
  readonly publicReads: boolean;
}

/** ApiKeyService: key management for admins (the authentication interceptor admits no one else), and any caller's own access. */
export class ApiKeyServiceImpl implements ServiceImpl<typeof ApiKeyService> {
  constructor(
    private readonly apiKeys: ApiKeys,
    private readonly policy: AccessPolicy,
  ) {}

  async createApiKey(request: { role: ApiKeyRole; owner: string; description: string }, context: HandlerContext) {
    const role = (Object.keys(ROLE_TO_PROTO) as Role[]).find((name) => ROLE_TO_PROTO[name] === request.role);
    if (role === undefined) throw invalidArgument('role', 'must be admin, owner or reader');
    const created = await this.apiKeys.create({ role, owner: request.owner, description: request.description }, actorOf(context));
    return { key: apiKeyToProto(created.record), secret: created.key };
  }

  async listApiKeys(request: { includeRevoked: boolean }) {
    return { apiKeys: (await this.apiKeys.list(request.includeRevoked)).map(apiKeyToProto) };
  }

  async revokeApiKey(request: { keyId: string }, context: HandlerContext) {
    return { apiKey: apiKeyToProto(await this.apiKeys.revoke(request.keyId, actorOf(context))) };
  }

  async getCallerAccess(_request: unknown, context: HandlerContext) {
    const principal = context.values.get(principalKey);
    return {
      principal: principalId(principal),
      ...(principal.kind === 'key' && {
        apiKey: create(ApiKeySchema, { keyId: principal.keyId, role: ROLE_TO_PROTO[principal.role], owner: principal.owner ?? '' }),
      }),
      keysRequired: this.policy.keysRequired,
      publicReads: this.policy.publicReads,
      permissions: permissionsOf(principal, this.policy),
    };
  }
}

/** A key's record as the API shows it (`atr keys create --local` prints the same). */
export function apiKeyToProto(record: ApiKeyRecord): ApiKey {
  return create(ApiKeySchema, {
    keyId: record.keyId,
    role: ROLE_TO_PROTO[record.role],
    owner: record.owner ?? '',
    description: record.description,
    createdAt: timestamp(record.createdAt),
    createdBy: record.createdBy,
    revokedAt: timestamp(record.revokedAt),
  });
}
