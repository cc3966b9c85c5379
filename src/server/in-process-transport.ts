import {
  type ConnectRouter,
  type ConnectRouterOptions,
  type ContextValues,
  type Transport,
  createConnectRouter,
} from '@connectrpc/connect';
import { createTransport } from '@connectrpc/connect/protocol-connect';
import type { UniversalClientRequest, UniversalClientResponse, UniversalHandler } from '@connectrpc/connect/protocol';

const nothing: AsyncIterable<Uint8Array> = { async *[Symbol.asyncIterator]() {} };

/**
 * Calls a router's handlers in process, the way REST reaches the API: through the same interceptors as every
 * other protocol. Unlike connect's router transport it hands each call the context values of the HTTP request it
 * serves (the client address, later the authenticated principal), so handlers see one context whatever the protocol.
 */
export function createInProcessTransports(
  routes: (router: ConnectRouter) => void,
  options: ConnectRouterOptions,
): (contextValues: ContextValues | undefined) => Transport {
  const router = createConnectRouter({ ...options, connect: true });
  routes(router);
  const handlers = new Map<string, UniversalHandler>(router.handlers.map((handler) => [handler.requestPath, handler]));
  return (contextValues) =>
    createTransport({
      httpClient: async (request: UniversalClientRequest): Promise<UniversalClientResponse> => {
        const handler = handlers.get(new URL(request.url).pathname);
        if (!handler) throw new Error(`no in-process handler for ${request.url}`);
        const response = await handler({
          httpVersion: '2.0',
          method: request.method,
          url: request.url,
          header: request.header,
          body: request.body ?? nothing,
          signal: request.signal ?? new AbortController().signal,
          contextValues,
        });
        return {
          status: response.status,
          header: new Headers(response.header),
          body: response.body ?? nothing,
          trailer: new Headers(response.trailer),
        };
      },
      baseUrl: 'http://in-process',
      useBinaryFormat: true,
      interceptors: [],
      acceptCompression: [],
      sendCompression: null,
      compressMinBytes: Number.MAX_SAFE_INTEGER,
      readMaxBytes: Number.MAX_SAFE_INTEGER,
      writeMaxBytes: Number.MAX_SAFE_INTEGER,
    });
}
