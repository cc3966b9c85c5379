import { type IncomingMessage, ServerResponse } from 'node:http';
import { type Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { DescService } from '@bufbuild/protobuf';
import { type ConnectRouter, type ContextValues, createContextValues, type Interceptor } from '@connectrpc/connect';
import { compressionBrotli, compressionGzip } from '@connectrpc/connect-node';
import { Health } from '../../gen/grpc/health/v1/health_pb.js';
import { ServerReflection as ServerReflectionV1 } from '../../gen/grpc/reflection/v1/reflection_pb.js';
import { ServerReflection as ServerReflectionV1alpha } from '../../gen/grpc/reflection/v1alpha/reflection_pb.js';
import { infrastructureServices } from '../infrastructure-services.ts';
import type { Logger } from '../log/logger.ts';
import { restCallKey } from './access-log.ts';
import { errorInterceptor } from './errors.ts';
import { type Readiness, createHealthService } from './health.ts';
import { createInProcessCalls } from './in-process-calls.ts';
import { createNodeAdapter } from './node-adapter.ts';
import { createConnectUnary } from './connect-unary.ts';
import { MAX_REQUEST_BYTES, screenRequests } from './input-limits.ts';
import type { HttpHandler } from './listener.ts';
import { createReflectionService } from './reflection.ts';
import { createRestHandler, sendError, sendJson } from './rest.ts';

export type HttpRoute = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
) => void | Promise<void>;

export interface HttpHandlerOptions {
  // Registers the API services; called twice (the public router and the in-process one REST calls through).
  routes: (router: ConnectRouter) => void;
  // The services `routes` registers: their `google.api.http` annotations become REST routes, and reflection lists them.
  services: DescService[];
  // Server interceptors for every protocol, REST included; errorInterceptor always runs outermost.
  interceptors: Interceptor[];
  readiness: () => Promise<Readiness>;
  // Exact GET paths served as they are, e.g. '/v1/crl'.
  extraRoutes?: Record<string, HttpRoute>;
  // GET paths under a prefix, e.g. '/log/' for the tlog-tiles API; resolves false when it has no such path.
  prefixRoutes?: Record<string, (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse, path: string) => Promise<boolean>>;
  // Values handlers see in their context (e.g. the mTLS peer), for gRPC, gRPC-Web and Connect requests.
  contextValues?: (req: IncomingMessage | Http2ServerRequest) => ContextValues;
  // How often health Watch streams re-check readiness.
  healthPollMs?: number;
  // Where failures no call's access line shows are reported: readiness probes, bugs outside a call (REST, extra routes).
  logger?: Logger;
}

// connect-es's own limit stays as a backstop; the request screen refuses more than MAX_REQUEST_BYTES first, as
// InvalidArgument naming the rule, where connect-es would answer ResourceExhausted.
const maxMessageBytes = MAX_REQUEST_BYTES;
/** Answers smaller than this are never compressed (see createNodeAdapter below). */
const COMPRESS_MIN_BYTES = 16 * 1024;

export function servedServices(api: DescService[]): DescService[] {
  return [...api, ...infrastructureServices];
}

/**
 * One request handler for the public listener: gRPC, gRPC-Web and Connect (JSON and binary) for the API, health
 * and reflection; then /healthz, /readyz, the extra GET routes, REST transcoding, and a JSON 404.
 */
export function createHttpHandler(options: HttpHandlerOptions): HttpHandler {
  const served = servedServices(options.services);
  const health = createHealthService({
    services: served.map((s) => s.typeName),
    readiness: options.readiness,
    ...(options.healthPollMs === undefined ? {} : { pollMs: options.healthPollMs }),
    ...(options.logger && { logger: options.logger }),
  });
  const reflection = createReflectionService(served);
  const routes = (router: ConnectRouter) => {
    options.routes(router);
    router.service(Health, health.impl);
    router.service(ServerReflectionV1, reflection.v1);
    router.service(ServerReflectionV1alpha, reflection.v1alpha);
    screenRequests(router);
  };
  const interceptors = [errorInterceptor, ...options.interceptors.filter((i) => i !== errorInterceptor)];
  const callInProcess = createInProcessCalls(routes, interceptors);
  const rest = createRestHandler({
    services: options.services,
    call: (req, call) => callInProcess({ ...call, contextValues: (options.contextValues?.(req) ?? createContextValues()).set(restCallKey, true) }),
    ...(options.logger && { logger: options.logger }),
  });

  const getRoutes = new Map<string, HttpRoute>([
    ['/healthz', health.healthz],
    ['/readyz', health.readyz],
    ...Object.entries(options.extraRoutes ?? {}),
  ]);
  const fallback: HttpRoute = async (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const route = getRoutes.get(path);
    if (route !== undefined) {
      if (req.method === 'GET' || req.method === 'HEAD') return route(req, res);
      res.setHeader('allow', 'GET, HEAD');
      return sendJson(res, 405, { detail: `${req.method} is not allowed on ${path}; use GET`, code: 'method_not_allowed' });
    }
    for (const [prefix, route] of Object.entries(options.prefixRoutes ?? {})) {
      if (!path.startsWith(prefix)) continue;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        return sendJson(res, 405, { detail: `${req.method} is not allowed on ${path}; use GET`, code: 'method_not_allowed' });
      }
      if (await route(req, res, path)) return;
    }
    if (await rest(req, res)) return;
    sendJson(res, 404, { detail: `no route for ${req.method} ${path}`, code: 'not_found' });
  };

  const acceptCompression = [compressionGzip, compressionBrotli];
  const jsonOptions = { ignoreUnknownFields: false };
  return createNodeAdapter({
    routes,
    acceptCompression,
    interceptors,
    readMaxBytes: maxMessageBytes,
    // Answers below this size are sent as they are even to a client that accepts gzip: compressing a resolve or
    // verify answer (1-3 KiB, the certificate's PEM) cost more time than it saves on any link these answers travel
    // (connect-es compresses from 1 KiB by default); pages of a listing still go compressed.
    compressMinBytes: COMPRESS_MIN_BYTES,
    // As REST does and the ProtoJSON spec recommends: a misspelt field (`expected_versoin`) is an error, not a
    // silently unconditional change.
    jsonOptions,
    unary: createConnectUnary({ call: callInProcess, jsonOptions, acceptCompression, compressMinBytes: COMPRESS_MIN_BYTES, readMaxBytes: maxMessageBytes }),
    ...(options.contextValues === undefined ? {} : { contextValues: options.contextValues }),
    ...(options.logger && { logger: options.logger }),
    fallback(req, res) {
      Promise.resolve(fallback(req, res)).catch((reason: unknown) => {
        if (res.headersSent) res.destroy();
        else sendError(res, reason, options.logger);
      });
    },
  });
}
