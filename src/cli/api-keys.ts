import { create as createMessage } from '@bufbuild/protobuf';
import { type ApiKey, ApiKeyRole, ApiKeyService, type CreateApiKeyResponse, CreateApiKeyResponseSchema, ListApiKeysResponseSchema, RevokeApiKeyResponseSchema } from '../../gen/atr/v1/api_key_pb.js';
import { type Invocation, UsageError, flagOption, oneOfOption, soleArgument, stringOption } from './command.ts';
import { type Field, time } from './output.ts';
import { localActor, openRegistryDatabase } from './registry-database.ts';
import type { Role } from '../auth/principal.ts';
import { loadConfig } from '../config/load.ts';
import { DomainError } from '../errors.ts';

const ROLE_BY_WORD = { admin: ApiKeyRole.ADMIN, owner: ApiKeyRole.OWNER, reader: ApiKeyRole.READER } as const;
const ROLE_WORDS = Object.keys(ROLE_BY_WORD) as (keyof typeof ROLE_BY_WORD)[];

const roleWord = (role: ApiKeyRole) => ROLE_WORDS.find((word) => ROLE_BY_WORD[word] === role) ?? 'unspecified';

function keyFields(key: ApiKey | undefined): Field[] {
  return [
    ['key id', key?.keyId],
    ['role', key && roleWord(key.role)],
    ['owner', key?.owner],
    ['description', key?.description],
    ['created', time(key?.createdAt)],
    ['created by', key?.createdBy],
    ['revoked', time(key?.revokedAt)],
  ];
}

export async function create({ values, client, out }: Invocation): Promise<number> {
  const role = oneOfOption(values, 'role', ROLE_WORDS);
  if (role === undefined) throw new UsageError('--role is required: admin, owner or reader');
  const request = { role, owner: stringOption(values, 'owner') ?? '', description: stringOption(values, 'description') ?? '' };
  const response = flagOption(values, 'local')
    ? await createLocally(request)
    : await client(ApiKeyService).createApiKey({ ...request, role: ROLE_BY_WORD[role] });
  if (out.json) {
    out.message(CreateApiKeyResponseSchema, response);
    return 0;
  }
  out.fields([['secret', response.secret], ...keyFields(response.key)]);
  out.line('\nStore the key now: the registry keeps only its hash and cannot show it again.');
  return 0;
}

/**
 * `keys create --local`: the key is made in the registry's database itself, opened from the configuration the server
 * reads (DATABASE_URL, .env), with no call to the server and no key: the way back in for whoever can reach the
 * server's database and files when no admin key is at hand. Its audit event's actor is `local:<OS user>`.
 */
async function createLocally(input: { role: Role; owner: string; description: string }): Promise<CreateApiKeyResponse> {
  // Loaded here: the other commands call a server and should not pay for the database modules.
  const [{ ApiKeys }, { SqlApiKeyStore }, { apiKeyToProto }] = await Promise.all([
    import('../auth/api-keys.ts'),
    import('../db/api-key-store.ts'),
    import('../services/api-key-service.ts'),
  ]);
  const database = await openRegistryDatabase(loadConfig().databaseUrl);
  try {
    const created = await new ApiKeys(new SqlApiKeyStore(database)).create(input, localActor()).catch((error: unknown) => {
      throw error instanceof DomainError && error.code === 'invalid_argument' ? new UsageError(error.message) : error;
    });
    return createMessage(CreateApiKeyResponseSchema, { secret: created.key, key: apiKeyToProto(created.record) });
  } finally {
    await database.close();
  }
}

export async function listKeys({ values, client, out }: Invocation): Promise<number> {
  const response = await client(ApiKeyService).listApiKeys({ includeRevoked: flagOption(values, 'all') });
  if (out.json) {
    out.message(ListApiKeysResponseSchema, response);
    return 0;
  }
  if (response.apiKeys.length === 0) {
    out.line('no API keys');
    return 0;
  }
  out.table(
    ['KEY ID', 'ROLE', 'OWNER', 'CREATED', 'REVOKED', 'DESCRIPTION'],
    response.apiKeys.map((key) => [
      key.keyId,
      roleWord(key.role),
      key.owner,
      time(key.createdAt) ?? '',
      time(key.revokedAt) ?? '',
      key.description,
    ]),
  );
  return 0;
}

export async function revoke(invocation: Invocation): Promise<number> {
  const response = await invocation.client(ApiKeyService).revokeApiKey({ keyId: soleArgument(invocation) });
  if (invocation.out.json) {
    invocation.out.message(RevokeApiKeyResponseSchema, response);
    return 0;
  }
  invocation.out.fields(keyFields(response.apiKey));
  return 0;
}

