import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { RefusalAudit } from '../audit/refusal-audit.ts';
import type { Config } from '../config/schema.ts';
import { DomainError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { RegistryStore } from '../registry/store.ts';
import { mayCall } from '../auth/access.ts';
import type { ApiKeys } from '../auth/api-keys.ts';
import { type Principal, principalId } from '../auth/principal.ts';
import { clientAddressKey, peerAgentKey, principalKey } from '../services/context.ts';

export interface AuthenticationOptions {
  readonly config: Pick<Config, 'apiKeyEnabled' | 'publicReads' | 'apiKeyHeader'>;
  readonly apiKeys: ApiKeys;
  readonly store: Pick<RegistryStore, 'appendAudit'>;
  /** Where a refusal that cannot be audited is reported. */
  readonly logger?: Logger;
}

/** The API key a request presents: in the configured header (X-API-Key) or as `Authorization: Bearer <key>`. */
export function presentedKey(header: { get(name: string): string | null }, keyHeader: string): string | undefined {
  const direct = header.get(keyHeader);
  if (direct !== null && direct !== '') return direct.trim();
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header.get('authorization') ?? '');
  return bearer?.[1];
}

/**
 * Decides who every call acts as and whether it may make it, before the handler runs: on the mTLS listener the
 * agent its certificate names; elsewhere the API key it presents, or anonymous. A presented key is always checked
 * (a wrong key is refused even while keys are not required). Refusals, here or from the registry's owner rules,
 * are audited with the principal and client address, bounded like the mTLS listener's.
 */
export function authenticationInterceptor(options: AuthenticationOptions, listener: 'public' | 'mtls'): Interceptor {
  const { config, apiKeys } = options;
  const policy = { keysRequired: config.apiKeyEnabled, publicReads: config.publicReads };
  const audit = new RefusalAudit(options.store, 'API call', options.logger);

  const principalOf = async (request: Parameters<Parameters<Interceptor>[0]>[0]): Promise<Principal> => {
    const agent = request.contextValues.get(peerAgentKey);
    if (listener === 'mtls') {
      if (agent === undefined) throw new DomainError('unauthenticated', 'no agent certificate on this connection');
      return { kind: 'agent', name: agent.name };
    }
    const key = presentedKey(request.header, config.apiKeyHeader);
    if (key === undefined) return { kind: 'anonymous' };
    const record = await apiKeys.authenticate(key);
    return { kind: 'key', keyId: record.keyId, role: record.role, owner: record.owner };
  };

  return (next) => async (request) => {
    const method = `${request.service.typeName}/${request.method.name}`;
    let principal: Principal = { kind: 'anonymous' };
    try {
      principal = await principalOf(request);
      request.contextValues.set(principalKey, principal);
      const decision = mayCall(principal, request.service.typeName, request.method.name, policy);
      if (decision === 'unauthenticated') {
        throw new DomainError('unauthenticated', `${method} needs an API key (${config.apiKeyHeader} or Authorization: Bearer)`);
      }
      if (decision === 'permission_denied') {
        const why = principal.kind === 'agent' ? ': administrative operations are not available to agent identities' : '';
        throw new DomainError('permission_denied', `${describe(principal)} may not call ${method}${why}`);
      }
      return await next(request);
    } catch (error) {
      const reason = refusalOf(error);
      if (reason !== undefined) {
        const address = request.contextValues.get(clientAddressKey);
        const actor = principal.kind === 'anonymous' ? `anonymous@${address}` : principalId(principal);
        audit.record(`${reason}\u0000${actor}\u0000${method}`, {
          eventType: 'auth.denied',
          actor,
          agentName: agentNameOf(request.message),
          metadata: { reason, method, client_address: address },
        });
      }
      throw error;
    }
  };
}

function describe(principal: Principal): string {
  if (principal.kind === 'key') return `${principal.role === 'reader' ? 'a' : 'an'} ${principal.role} key`;
  if (principal.kind === 'agent') return `agent ${principal.name}`;
  return 'an anonymous caller';
}

function refusalOf(error: unknown): 'unauthenticated' | 'permission_denied' | undefined {
  if (error instanceof DomainError && (error.code === 'unauthenticated' || error.code === 'permission_denied')) return error.code;
  if (error instanceof ConnectError && error.code === Code.Unauthenticated) return 'unauthenticated';
  if (error instanceof ConnectError && error.code === Code.PermissionDenied) return 'permission_denied';
  return undefined;
}

// The agent a refused call was about, when its request names one that could be an agent name (unary requests
// only): whatever else a refused caller sent stays out of the audit trail.
function agentNameOf(message: unknown): string {
  const name = (message as { agentName?: unknown } | undefined)?.agentName;
  return typeof name === 'string' && /^[a-z0-9.-]{1,253}$/.test(name) ? name : '';
}
