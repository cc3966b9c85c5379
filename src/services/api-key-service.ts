import { create } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { type ApiKey, ApiKeyRole, ApiKeySchema, type ApiKeyService } from '../../gen/atr/v1/api_key_pb.js';
import type { ApiKeyRecord } from '../auth/api-key-store.ts';
import type { ApiKeys } from '../auth/api-keys.ts';
import type { Role } from '../auth/principal.ts';
import { invalidArgument } from '../errors.ts';
import { actorOf } from './context.ts';
import { timestamp } from './convert.ts';

const ROLE_TO_PROTO: Record<Role, ApiKeyRole> = {
  admin: ApiKeyRole.ADMIN,
  owner: ApiKeyRole.OWNER,
  reader: ApiKeyRole.READER,
};

/** ApiKeyService: key management for admins (the authentication interceptor admits no one else). */
export class ApiKeyServiceImpl implements ServiceImpl<typeof ApiKeyService> {
  constructor(private readonly apiKeys: ApiKeys) {}

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
}

function apiKeyToProto(record: ApiKeyRecord): ApiKey {
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
