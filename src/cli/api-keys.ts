import {
  type ApiKey,
  ApiKeyRole,
  CreateApiKeyResponseSchema,
  ListApiKeysResponseSchema,
  RevokeApiKeyResponseSchema,
} from '../../gen/atr/v1/api_key_pb.js';
import { type Command, UsageError, flagOption, oneOfOption, soleArgument, stringOption } from './command.ts';
import { type Field, time } from './output.ts';

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

const create: Command = {
  name: 'keys create',
  synopsis: '--role admin|owner|reader [--owner NAME] [--description D]',
  summary: 'create an API key (admin only); the key is printed once and never again',
  options: { role: { type: 'string' }, owner: { type: 'string' }, description: { type: 'string' } },
  arity: 0,
  async run({ values, clients, out }) {
    const role = oneOfOption(values, 'role', ROLE_WORDS);
    if (role === undefined) throw new UsageError('--role is required: admin, owner or reader');
    const response = await clients().keys.createApiKey({
      role: ROLE_BY_WORD[role],
      owner: stringOption(values, 'owner') ?? '',
      description: stringOption(values, 'description') ?? '',
    });
    if (out.json) {
      out.message(CreateApiKeyResponseSchema, response);
      return 0;
    }
    out.fields([['secret', response.secret], ...keyFields(response.key)]);
    out.line('\nStore the key now: the registry keeps only its hash and cannot show it again.');
    return 0;
  },
};

const listKeys: Command = {
  name: 'keys list',
  synopsis: '[--all]',
  summary: 'list API keys (admin only); --all includes revoked ones',
  options: { all: { type: 'boolean' } },
  arity: 0,
  async run({ values, clients, out }) {
    const response = await clients().keys.listApiKeys({ includeRevoked: flagOption(values, 'all') });
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
  },
};

const revoke: Command = {
  name: 'keys revoke',
  synopsis: '<key id>',
  summary: 'revoke an API key (admin only); the next request that presents it is refused',
  options: {},
  arity: 1,
  async run(invocation) {
    const response = await invocation.clients().keys.revokeApiKey({ keyId: soleArgument(invocation) });
    if (invocation.out.json) {
      invocation.out.message(RevokeApiKeyResponseSchema, response);
      return 0;
    }
    invocation.out.fields(keyFields(response.apiKey));
    return 0;
  },
};

export const apiKeyCommands: readonly Command[] = [create, listKeys, revoke];
