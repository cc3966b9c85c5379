import { type Client, type Transport, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { TransparencyLogService } from '../../gen/atr/v1/transparency_log_pb.js';
import { VerifyService } from '../../gen/atr/v1/verify_pb.js';

export const PROTOCOLS = ['connect', 'grpc', 'grpc-web'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export interface RegistryClientOptions {
  /** Where the registry listens, e.g. http://127.0.0.1:8000. */
  readonly baseUrl: string;
  /** Default connect (HTTP/1.1); grpc is HTTP/2 (h2c on http:// URLs); grpc-web is HTTP/1.1. */
  readonly protocol?: Protocol;
  /** Per-call deadline; default 30 s, so a server that never answers cannot hang the caller. */
  readonly timeoutMs?: number;
}

/** Typed clients for the registry's services, over one transport. */
export interface RegistryClient {
  readonly registry: Client<typeof RegistryService>;
  readonly verify: Client<typeof VerifyService>;
  readonly resolve: Client<typeof ResolveService>;
  readonly log: Client<typeof TransparencyLogService>;
}

export function createRegistryTransport({ baseUrl, protocol = 'connect', timeoutMs = 30_000 }: RegistryClientOptions): Transport {
  const options = { baseUrl, defaultTimeoutMs: timeoutMs };
  switch (protocol) {
    case 'connect':
      return createConnectTransport({ ...options, httpVersion: '1.1' });
    case 'grpc':
      return createGrpcTransport(options);
    case 'grpc-web':
      return createGrpcWebTransport({ ...options, httpVersion: '1.1' });
  }
}

export function createRegistryClient(options: RegistryClientOptions): RegistryClient {
  const transport = createRegistryTransport(options);
  return {
    registry: createClient(RegistryService, transport),
    verify: createClient(VerifyService, transport),
    resolve: createClient(ResolveService, transport),
    log: createClient(TransparencyLogService, transport),
  };
}
