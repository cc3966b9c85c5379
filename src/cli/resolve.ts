import { ResolveAgentResponseSchema, ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { type Invocation, oneOfOption, soleArgument } from './command.ts';
import { list, statusWord, time } from './output.ts';

export async function resolveAgent(invocation: Invocation): Promise<number> {
  const source = oneOfOption(invocation.values, 'source', ['dns', 'registry'] as const) ?? '';
  const response = await invocation.client(ResolveService).resolveAgent({ agentName: soleArgument(invocation), source });
  if (invocation.out.json) {
    invocation.out.message(ResolveAgentResponseSchema, response);
    return 0;
  }
  invocation.out.fields([
    ['name', response.agentName],
    ['status', statusWord(response.status)],
    ['owner', response.owner],
    ['capabilities', list(response.capabilities)],
    ['description', response.description],
    ['endpoints', list(response.endpoints)],
    ['spiffe id', response.spiffeId],
    ['trust domain', response.trustDomain],
    ['fingerprint', response.certFingerprint],
    ['serial', response.certSerial],
    ['expires', time(response.expiresAt)],
    ['source', response.source],
    ['dnssec validated', response.dnssecValidated ? 'yes' : 'no'],
  ]);
  return 0;
}

