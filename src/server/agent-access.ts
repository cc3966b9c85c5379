import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { TransparencyLogService } from '../../gen/atr/v1/transparency_log_pb.js';
import { VerifyService } from '../../gen/atr/v1/verify_pb.js';
import { infrastructureServices } from './http-handler.ts';

// What an agent identity may call: its own identity and renewal, the read-only lookups and verifications, the
// log's reads, health and reflection. Everything else administers the registry and needs an operator.
const selfService = new Set<string>([
  ...[
    RegistryService.method.whoAmI,
    RegistryService.method.renewCertificate,
    RegistryService.method.getAgent,
    RegistryService.method.getAgentCertificate,
    ResolveService.method.resolveAgent,
    VerifyService.method.verifyCertificate,
    VerifyService.method.verifyToken,
    VerifyService.method.getTrustBundle,
    TransparencyLogService.method.getCheckpoint,
    TransparencyLogService.method.getEntry,
    TransparencyLogService.method.listEntries,
    TransparencyLogService.method.getInclusionProof,
    TransparencyLogService.method.getConsistencyProof,
  ].map((method) => `${method.parent.typeName}/${method.name}`),
  ...infrastructureServices.flatMap((service) => service.methods.map((method) => `${service.typeName}/${method.name}`)),
]);

/** Refuses every administrative method to callers on the mTLS listener (REST included: it calls through this). */
export const agentAccessInterceptor: Interceptor = (next) => async (request) => {
  if (!selfService.has(`${request.service.typeName}/${request.method.name}`)) {
    throw new ConnectError('administrative operations are not available to agent identities', Code.PermissionDenied);
  }
  return await next(request);
};
