import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { VerifyService } from '../../gen/atr/v1/verify_pb.js';

/** The calls the cache tests make to a running registry: register and revoke, resolve, verify; over gRPC (h2c). */
export function registryClients(url: string) {
  const transport = createGrpcTransport({ baseUrl: url });
  return {
    registry: createClient(RegistryService, transport),
    resolve: createClient(ResolveService, transport),
    verify: createClient(VerifyService, transport),
  };
}

export type RegistryClients = ReturnType<typeof registryClients>;
