import type { DescMethod } from '@bufbuild/protobuf';
import { ApiKeyService } from '../../gen/atr/v1/api_key_pb.js';
import { DomainService } from '../../gen/atr/v1/domain_pb.js';
import { EventService } from '../../gen/atr/v1/event_pb.js';
import { OperationService } from '../../gen/atr/v1/operation_pb.js';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { TransparencyLogService } from '../../gen/atr/v1/transparency_log_pb.js';
import { VerifyService } from '../../gen/atr/v1/verify_pb.js';
import { WebhookService } from '../../gen/atr/v1/webhook_pb.js';
import { infrastructureServices } from '../infrastructure-services.ts';
import type { Principal } from './principal.ts';

/**
 * What a method needs, from least to most:
 * - public: the reads relying parties make (resolve, verify, the log, the trust bundle, health, reflection);
 *   anonymous unless PUBLIC_READS=false.
 * - self: a caller about itself: an agent over mTLS (WhoAmI and renewal refuse anyone else), or any caller
 *   asking what it may do.
 * - read: the registry's records (agents, certificates, the audit trail, the event feed): any key; an agent for its
 *   own record.
 * - write: changes to agents, domains and webhooks: admin keys, and owner keys for their own owner's.
 * - admin: keys and everything else; a method missing from this table is admin-only.
 */
export type Access = 'public' | 'self' | 'read' | 'write' | 'admin';

const table = new Map<string, Access>();
const grant = (access: Access, methods: readonly DescMethod[]) => {
  for (const method of methods) table.set(keyOf(method.parent.typeName, method.name), access);
};
grant('public', [
  ResolveService.method.resolveAgent,
  VerifyService.method.verifyCertificate,
  VerifyService.method.verifyToken,
  VerifyService.method.getTrustBundle,
  VerifyService.method.watchRevocations,
  TransparencyLogService.method.getCheckpoint,
  TransparencyLogService.method.getEntry,
  TransparencyLogService.method.listEntries,
  TransparencyLogService.method.getInclusionProof,
  TransparencyLogService.method.getConsistencyProof,
  ...infrastructureServices.flatMap((service) => service.methods),
]);
grant('self', [RegistryService.method.whoAmI, RegistryService.method.renewCertificate, ApiKeyService.method.getCallerAccess]);
grant('read', [
  RegistryService.method.getAgent,
  RegistryService.method.getAgentCertificate,
  RegistryService.method.getAgentDnsRecords,
  RegistryService.method.listAgents,
  RegistryService.method.listAuditEvents,
  DomainService.method.listDomains,
  EventService.method.watchAgents,
  EventService.method.listEvents,
  ...OperationService.methods,
]);
grant('write', [
  RegistryService.method.registerAgent,
  RegistryService.method.rotateCertificate,
  RegistryService.method.revokeAgent,
  RegistryService.method.updateAgent,
  TransparencyLogService.method.publishCheckpoint,
  // Owner keys for their own owner's domains (the domain logic scopes them), admins for any.
  DomainService.method.createDomainChallenge,
  DomainService.method.verifyDomain,
  DomainService.method.removeDomain,
  // Webhooks are an owner's own configuration: owner keys for their own owner's (the webhook logic scopes them),
  // admins for any; readers see none of them.
  ...WebhookService.methods,
]);
grant('admin', ApiKeyService.methods.filter((method) => !table.has(keyOf(method.parent.typeName, method.name))));

function keyOf(service: string, method: string): string {
  return `${service}/${method}`;
}

export function accessOf(service: string, method: string): Access {
  return table.get(keyOf(service, method)) ?? 'admin';
}

// Reads an agent identity may make besides the public ones: its own record (and, being public data, any other's).
const agentReads = new Set([RegistryService.method.getAgent, RegistryService.method.getAgentCertificate].map((m) => keyOf(m.parent.typeName, m.name)));

/**
 * Whether the principal may call the method; the answer for a refusal says why. Owner scoping of writes is the
 * registry's (it knows whose agent it is); here an owner key may call every write method.
 */
export function mayCall(
  principal: Principal,
  service: string,
  method: string,
  policy: { readonly keysRequired: boolean; readonly publicReads: boolean },
): 'allowed' | 'unauthenticated' | 'permission_denied' {
  const access = accessOf(service, method);
  switch (principal.kind) {
    case 'agent':
      return access === 'public' || access === 'self' || agentReads.has(keyOf(service, method)) ? 'allowed' : 'permission_denied';
    case 'anonymous':
      if (!policy.keysRequired || access === 'self' || (access === 'public' && policy.publicReads)) return 'allowed';
      return 'unauthenticated';
    case 'key':
      if (access === 'public' || access === 'self' || principal.role === 'admin') return 'allowed';
      if (access === 'read') return 'allowed';
      if (access === 'write' && principal.role === 'owner') return 'allowed';
      return 'permission_denied';
  }
}

/** What a caller may do, as GetCallerAccess reports it. */
export type Permission = 'public_read' | 'read' | 'write' | 'write_own' | 'manage_keys';

// One method stands for each permission; mayCall decides, so the report cannot drift from what is enforced.
const witnesses: readonly (readonly [Permission, DescMethod])[] = [
  ['public_read', ResolveService.method.resolveAgent],
  ['read', RegistryService.method.listAgents],
  ['write', RegistryService.method.registerAgent],
  ['manage_keys', ApiKeyService.method.createApiKey],
];

/** The permissions mayCall grants the principal; an owner key's writes are `write_own` (the registry scopes them). */
export function permissionsOf(principal: Principal, policy: { readonly keysRequired: boolean; readonly publicReads: boolean }): Permission[] {
  const permissions: Permission[] = [];
  for (const [permission, method] of witnesses) {
    if (mayCall(principal, method.parent.typeName, method.name, policy) !== 'allowed') continue;
    const ownerScoped = permission === 'write' && principal.kind === 'key' && principal.role === 'owner';
    permissions.push(ownerScoped ? 'write_own' : permission);
  }
  return permissions;
}
