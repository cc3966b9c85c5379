// What a web app imports (`atr/browser`): typed clients over Connect-Web, the API's messages and service
// descriptors, and the transparency-log checks. Nothing under this entry imports `node:` modules or the
// server; test/package/browser-bundle.test.ts bundles it for the browser to keep it that way.
import type { Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-web';
import { bearer } from './bearer.ts';
import { type RegistryClient, registryClientOver } from './registry-client.ts';

export { type RegistryClient, registryClientOver } from './registry-client.ts';
export * from './messages.ts';
export * from './transparency-log.ts';
export * from './log-checks.ts';

export interface BrowserClientOptions {
  /** Where the registry's public listener is, e.g. https://registry.example; it must allow the page's origin. */
  readonly baseUrl: string;
  /** Default connect (JSON or binary over fetch); grpc-web for proxies that expect it. */
  readonly protocol?: 'connect' | 'grpc-web';
  /** Per-call deadline; default 30 s. */
  readonly timeoutMs?: number;
  /** An API key, sent as `Authorization: Bearer`; only for trusted pages, a key in a page is readable by its users. */
  readonly apiKey?: string | undefined;
}

/** A Connect-Web transport to the registry, for createClient or registryClientOver. */
export function createBrowserTransport({ baseUrl, protocol = 'connect', timeoutMs = 30_000, apiKey }: BrowserClientOptions): Transport {
  const options = { baseUrl, defaultTimeoutMs: timeoutMs, interceptors: apiKey === undefined ? [] : [bearer(apiKey)] };
  return protocol === 'grpc-web' ? createGrpcWebTransport(options) : createConnectTransport(options);
}

/** The registry's typed clients over a Connect-Web transport. */
export function createBrowserRegistryClient(options: BrowserClientOptions): RegistryClient {
  return registryClientOver(createBrowserTransport(options));
}
