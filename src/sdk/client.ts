import { type Client, type Interceptor, type Transport, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { ApiKeyService } from '../../gen/atr/v1/api_key_pb.js';
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
  /** An API key (atr_<id>_<secret>), sent as `Authorization: Bearer` on every call. */
  readonly apiKey?: string | undefined;
}

/** Typed clients for the registry's services, over one transport. */
export interface RegistryClient {
  readonly registry: Client<typeof RegistryService>;
  readonly verify: Client<typeof VerifyService>;
  readonly resolve: Client<typeof ResolveService>;
  readonly log: Client<typeof TransparencyLogService>;
  readonly keys: Client<typeof ApiKeyService>;
}

export function createRegistryTransport({ baseUrl, protocol = 'connect', timeoutMs = 30_000, apiKey }: RegistryClientOptions): Transport {
  const options = { baseUrl, defaultTimeoutMs: timeoutMs, interceptors: apiKey === undefined ? [] : [bearer(apiKey)] };
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
  return registryClientOver(createRegistryTransport(options));
}

/** The registry's clients over a transport of the caller's making (its own interceptors, TLS, ...). */
export function registryClientOver(transport: Transport): RegistryClient {
  return {
    registry: createClient(RegistryService, transport),
    verify: createClient(VerifyService, transport),
    resolve: createClient(ResolveService, transport),
    log: createClient(TransparencyLogService, transport),
    keys: createClient(ApiKeyService, transport),
  };
}

function bearer(apiKey: string): Interceptor {
  return (next) => (request) => {
    request.header.set('authorization', `Bearer ${apiKey}`);
    return next(request);
  };
}
