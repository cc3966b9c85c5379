// A transport to the registry from Node (connect-node: Connect, gRPC, gRPC-Web), without any service: a caller that
// needs one service creates its client alone (createClient), and loads only that service's descriptors.
import type { Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { bearer } from './bearer.ts';

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
  /**
   * TLS for an https:// baseUrl: `ca` replaces Node's trusted CAs (give `[...tls.rootCertificates, pem]` to add one);
   * `cert` and `key` present a client certificate (an agent's, for the mTLS listener).
   */
  readonly tls?: { readonly ca?: string | readonly string[]; readonly cert?: string; readonly key?: string } | undefined;
}

export function createRegistryTransport({ baseUrl, protocol = 'connect', timeoutMs = 30_000, apiKey, tls }: RegistryClientOptions): Transport {
  const options = {
    baseUrl,
    defaultTimeoutMs: timeoutMs,
    interceptors: apiKey === undefined ? [] : [bearer(apiKey)],
    ...(tls === undefined ? {} : { nodeOptions: { ...tls, ca: tls.ca as string | string[] | undefined } }),
  };
  switch (protocol) {
    case 'connect':
      return createConnectTransport({ ...options, httpVersion: '1.1' });
    case 'grpc':
      return createGrpcTransport(options);
    case 'grpc-web':
      return createGrpcWebTransport({ ...options, httpVersion: '1.1' });
  }
}
