import { createContextKey, type HandlerContext } from '@connectrpc/connect';
import { type Principal, principalId } from '../auth/principal.ts';
import { DomainError } from '../errors.ts';
import type { OwnerScope } from '../registry/registry.ts';

/** The client's network address, set by the listener for every request (REST included). */
export const clientAddressKey = createContextKey<string>('unknown', { description: 'client address' });

/** The agent a connection authenticated as: set by the mTLS listener after its registry-state check. */
export interface PeerAgent {
  readonly name: string;
  readonly fingerprint: string;
  readonly serial: string;
}

export const peerAgentKey = createContextKey<PeerAgent | undefined>(undefined, { description: 'mTLS agent' });

export const principalKey = createContextKey<Principal>({ kind: 'anonymous' }, { description: 'principal' });

/** The calling agent, or Unauthenticated when the request did not come over the mTLS listener. */
export function peerAgentOf(context: HandlerContext): PeerAgent {
  const agent = context.values.get(peerAgentKey);
  if (!agent) throw new DomainError('unauthenticated', 'this call needs an agent certificate: use the mTLS listener');
  return agent;
}

/** Who is asking, as written into the audit trail: the API key or mTLS agent, else anonymous@<client address>. */
export function actorOf(context: HandlerContext): string {
  const agent = context.values.get(peerAgentKey);
  if (agent) return `agent:${agent.name}`;
  const principal = context.values.get(principalKey);
  if (principal.kind !== 'anonymous') return principalId(principal);
  return `anonymous@${context.values.get(clientAddressKey)}`;
}

/** The owner an owner key confines its caller to; undefined for admins, agents and anonymous callers. */
export function ownerScopeOf(context: HandlerContext): OwnerScope {
  const principal = context.values.get(principalKey);
  return principal.kind === 'key' && principal.role === 'owner' ? { owner: principal.owner ?? '' } : undefined;
}
