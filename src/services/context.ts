import { createContextKey, type HandlerContext } from '@connectrpc/connect';
import { DomainError } from '../errors.ts';

/** The client's network address, set by the listener for every request (REST included). */
export const clientAddressKey = createContextKey<string>('unknown', { description: 'client address' });

/** The agent a connection authenticated as: set by the mTLS listener after its registry-state check. */
export interface PeerAgent {
  readonly name: string;
  readonly fingerprint: string;
  readonly serial: string;
}

export const peerAgentKey = createContextKey<PeerAgent | undefined>(undefined, { description: 'mTLS agent' });

/** The calling agent, or Unauthenticated when the request did not come over the mTLS listener. */
export function peerAgentOf(context: HandlerContext): PeerAgent {
  const agent = context.values.get(peerAgentKey);
  if (!agent) throw new DomainError('unauthenticated', 'this call needs an agent certificate: use the mTLS listener');
  return agent;
}

/** Who is asking, as written into the audit trail: the mTLS agent, else anonymous until API keys arrive. */
export function actorOf(context: HandlerContext): string {
  const agent = context.values.get(peerAgentKey);
  return agent ? `agent:${agent.name}` : `anonymous@${context.values.get(clientAddressKey)}`;
}
