import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  GetAgentResponseSchema,
  ListAgentsResponseSchema,
  RegisterAgentResponseSchema,
  RegistryService,
  RevokeAgentResponseSchema,
  RotateCertificateResponseSchema,
  UpdateAgentResponseSchema,
} from '../../gen/atr/v1/registry_pb.js';
import type { Agent } from '../../gen/atr/v1/agent_pb.js';
import { loadConfig } from '../config/load.ts';
import { finishedOperation } from './operations.ts';
import {
  type Invocation,
  type OptionValues,
  UsageError,
  flagOption,
  integerOption,
  listOption,
  oneOfOption,
  soleArgument,
  stringOption,
} from './command.ts';
import type { KeyAndCsr } from '../sdk/csr.ts';
import { agentDirectory, keyFile, writeAgentFiles } from './keys.ts';
import { type Field, STATUS_BY_WORD, agentFields, list, statusWord, time } from './output.ts';

export async function register(invocation: Invocation): Promise<number> {
  const { values } = invocation;
  const agentName = soleArgument(invocation);
  // An owner API key registers under its own owner; every other caller names one.
  const owner = stringOption(values, 'owner') ?? '';
  const { keysRootDir } = loadConfig();
  // Checked before the call, so an existing private key is never replaced by a registration.
  const existingKey = keyFile(resolve(keysRootDir, agentName));
  if (existsSync(existingKey)) {
    throw new Error(`${existingKey} already exists; remove it or set KEYS_ROOT_DIR to another directory`);
  }
  const local = await keyForIssuance(values, agentName);
  const response = await completed(
    invocation,
    await invocation.client(RegistryService).registerAgent({
      agentName,
      owner,
      capabilities: listOption(values, 'capability') ?? [],
      csrPem: local?.csrPem ?? '',
      description: stringOption(values, 'description') ?? '',
      endpoints: listOption(values, 'endpoint') ?? [],
    }),
  );
  const files = await saveIssued(keysRootDir, agentName, local, response, false);
  if (invocation.out.json) invocation.out.message(RegisterAgentResponseSchema, withoutKey(response));
  else invocation.out.fields([...agentFields(response.agent), ...files]);
  return 0;
}

export async function get(invocation: Invocation): Promise<number> {
  const response = await invocation.client(RegistryService).getAgent({ agentName: soleArgument(invocation) });
  if (invocation.out.json) invocation.out.message(GetAgentResponseSchema, response);
  else invocation.out.fields(agentFields(response.agent));
  return 0;
}

export async function listAgents({ values, client, out }: Invocation): Promise<number> {
  const status = oneOfOption(values, 'status', Object.keys(STATUS_BY_WORD) as (keyof typeof STATUS_BY_WORD)[]);
  const response = await client(RegistryService).listAgents({
    owner: stringOption(values, 'owner') ?? '',
    status: status === undefined ? undefined : STATUS_BY_WORD[status],
    capability: stringOption(values, 'capability') ?? '',
    limit: integerOption(values, 'limit') ?? 0,
    offset: integerOption(values, 'offset') ?? 0,
  });
  if (out.json) {
    out.message(ListAgentsResponseSchema, response);
    return 0;
  }
  if (response.agents.length === 0) {
    out.line(response.total === 0 ? 'no agents' : `no agents at offset ${response.offset} (${response.total} in all)`);
    return 0;
  }
  out.table(
    ['NAME', 'STATUS', 'OWNER', 'EXPIRES', 'CAPABILITIES'],
    response.agents.map((agent) => [
      agent.agentName,
      statusWord(agent.status),
      agent.owner,
      time(agent.expiresAt) ?? '',
      list(agent.capabilities),
    ]),
  );
  out.pageFooter(response, response.agents.length);
  return 0;
}

export async function rotate(invocation: Invocation): Promise<number> {
  const { values } = invocation;
  const agentName = soleArgument(invocation);
  const { keysRootDir } = loadConfig();
  const local = await keyForIssuance(values, agentName);
  const response = await completed(
    invocation,
    await invocation.client(RegistryService).rotateCertificate({
      agentName,
      csrPem: local?.csrPem ?? '',
      expectedVersion: integerOption(values, 'expected-version') ?? 0,
    }),
  );
  const files = await saveIssued(keysRootDir, agentName, local, response, true);
  if (invocation.out.json) invocation.out.message(RotateCertificateResponseSchema, withoutKey(response));
  else invocation.out.fields([...agentFields(response.agent), ['superseded', response.previousCertFingerprint], ...files]);
  return 0;
}

export async function revoke(invocation: Invocation): Promise<number> {
  const { values, out } = invocation;
  const response = await invocation.client(RegistryService).revokeAgent({
    agentName: soleArgument(invocation),
    reason: stringOption(values, 'reason') ?? '',
    expectedVersion: integerOption(values, 'expected-version') ?? 0,
  });
  if (out.json) out.message(RevokeAgentResponseSchema, response);
  else out.fields(agentFields(response.agent));
  return 0;
}

export async function update(invocation: Invocation): Promise<number> {
  const { values, out } = invocation;
  const capabilities = listOption(values, 'capability');
  const description = stringOption(values, 'description');
  const endpoints = listOption(values, 'endpoint');
  // The mask names exactly the fields given, so `--description ''` or `--capability ''` clears a field.
  const paths = [
    capabilities === undefined ? undefined : 'capabilities',
    description === undefined ? undefined : 'description',
    endpoints === undefined ? undefined : 'endpoints',
  ].filter((path): path is string => path !== undefined);
  if (paths.length === 0) throw new UsageError('nothing to update: give --capability, --description or --endpoint');
  const nonEmpty = (items: string[] | undefined) => (items ?? []).filter((item) => item !== '');
  const response = await invocation.client(RegistryService).updateAgent({
    agentName: soleArgument(invocation),
    capabilities: nonEmpty(capabilities),
    description: description ?? '',
    endpoints: nonEmpty(endpoints),
    updateMask: { paths },
    expectedVersion: integerOption(values, 'expected-version') ?? 0,
  });
  if (out.json) out.message(UpdateAgentResponseSchema, response);
  else out.fields(agentFields(response.agent));
  return 0;
}

/** The key for a new certificate: made here and sent only as a CSR, or with --server-keygen left to the server. */
async function keyForIssuance(values: OptionValues, agentName: string): Promise<KeyAndCsr | undefined> {
  if (flagOption(values, 'server-keygen')) return undefined;
  // Loaded here: the X.509 library is the largest thing the CLI loads, and only issuing commands need it.
  const { generateKeyAndCsr } = await import('../sdk/csr.ts');
  return generateKeyAndCsr(agentName);
}

interface Issued {
  readonly certPem: string;
  readonly chainPem: string;
  readonly privateKeyPem: string;
}

/** Writes the agent's key, certificate and chain; returns where they went, for the human output. */
async function saveIssued(
  keysRootDir: string,
  agentName: string,
  local: KeyAndCsr | undefined,
  issued: Issued,
  keepPrevious: boolean,
): Promise<Field[]> {
  const privateKeyPem = local?.privateKeyPem ?? issued.privateKeyPem;
  if (privateKeyPem === '') throw new Error('the registry returned no private key');
  const directory = agentDirectory(keysRootDir, agentName);
  await writeAgentFiles(directory, { privateKeyPem, certPem: issued.certPem, chainPem: issued.chainPem }, keepPrevious);
  const source = local === undefined ? 'generated by the server' : 'generated locally; only a CSR was sent';
  return [
    ['key', `${keyFile(directory)} (${source})`],
    ['certificate', join(directory, 'cert.pem')],
    ['chain', join(directory, 'chain.pem')],
  ];
}

/**
 * A registration or rotation the registry accepted to finish in the background (ASYNC_PROCESSING_ENABLED) is waited
 * for, so the command ends with the certificate either way.
 */
async function completed<T extends Issued & { operationId: string; agent?: Agent | undefined; logIndex?: bigint | undefined }>(
  invocation: Invocation,
  response: T,
): Promise<T> {
  if (response.operationId === '') return response;
  const operation = await finishedOperation(invocation, response.operationId);
  return { ...response, agent: operation.agent, certPem: operation.certPem, logIndex: operation.logIndex };
}

/** The response as JSON without the server-made key: it is in key.pem, and standard output is no place for it. */
function withoutKey<T extends Issued>(response: T): T {
  return { ...response, privateKeyPem: '' };
}
