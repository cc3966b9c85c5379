import { Code, ConnectError, type Client, type Transport, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { VerifyService } from '../../gen/atr/v1/verify_pb.js';

export const PROTOCOLS = ['connect', 'grpc', 'grpc-web'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export const DEFAULT_SERVER = 'http://127.0.0.1:8000';

// A server that accepts the connection but never answers should not hang the CLI forever.
const TIMEOUT_MS = 30_000;

export interface Clients {
  readonly registry: Client<typeof RegistryService>;
  readonly verify: Client<typeof VerifyService>;
  readonly resolve: Client<typeof ResolveService>;
}

export function createTransport(baseUrl: string, protocol: Protocol): Transport {
  const options = { baseUrl, defaultTimeoutMs: TIMEOUT_MS };
  switch (protocol) {
    case 'connect':
      return createConnectTransport({ ...options, httpVersion: '1.1' });
    case 'grpc':
      // gRPC is always HTTP/2; on http:// URLs that is h2c with prior knowledge, which the server speaks.
      return createGrpcTransport(options);
    case 'grpc-web':
      return createGrpcWebTransport({ ...options, httpVersion: '1.1' });
  }
}

export function createClients(baseUrl: string, protocol: Protocol): Clients {
  const transport = createTransport(baseUrl, protocol);
  return {
    registry: createClient(RegistryService, transport),
    verify: createClient(VerifyService, transport),
    resolve: createClient(ResolveService, transport),
  };
}

const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/** The network error behind a failed call, when the server could not be reached at all. */
function networkCause(error: ConnectError): string | undefined {
  for (let reason: unknown = error.cause; reason instanceof Error; reason = reason.cause) {
    const code = (reason as NodeJS.ErrnoException).code;
    if (code !== undefined && NETWORK_ERROR_CODES.has(code)) return reason.message;
  }
  return undefined;
}

/** One line for an error that ended a command, with a hint when the registry is not reachable. */
export function describeCallError(error: ConnectError, server: string): string {
  const cause = networkCause(error);
  if (cause !== undefined || error.code === Code.DeadlineExceeded) {
    return (
      `cannot reach the registry at ${server} (${cause ?? error.rawMessage}).\n` +
      'Is it running? Start it with `npm start` (or `atr serve`), or point the CLI elsewhere with --server URL or ATR_SERVER.'
    );
  }
  return error.message;
}
