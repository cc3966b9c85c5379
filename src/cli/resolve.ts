import { ResolveAgentResponseSchema } from '../../gen/atr/v1/resolve_pb.js';
import { type Command, soleArgument } from './command.ts';
import { list, statusWord, time } from './output.ts';

const resolveAgent: Command = {
  name: 'resolve',
  synopsis: '<name>',
  summary: 'what a peer needs before talking to an agent: status, endpoints, SPIFFE ID, current certificate',
  options: {},
  arity: 1,
  async run(invocation) {
    const response = await invocation.clients().resolve.resolveAgent({ agentName: soleArgument(invocation) });
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
    ]);
    return 0;
  },
};

export const resolveCommands: readonly Command[] = [resolveAgent];
