import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { createContextValues } from '@connectrpc/connect';
import { prepareAccess } from '../auth/bootstrap.ts';
import { guardPlainReads } from './read-guard.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { MessageBus } from '../registry/message-bus.ts';
import { createLogger } from '../log/process-logger.ts';
import { clientAddressKey, peerAgentKey } from '../services/context.ts';
import { type App, createApp } from './app.ts';
import { createHttpHandler, type HttpHandlerOptions } from './http-handler.ts';
import { webUiRoutes } from './web-ui.ts';
import { apiInterceptors } from './interceptors.ts';
import { ConnectionGuard, defaultMaxConnections } from './connection-guard.ts';
import { Http2SessionPolicy, defaultSessionLimits } from './http2-session-policy.ts';
import { clientAddressOf, trustedProxyCheck } from './client-address.ts';
import { type HttpHandler, type Listener, listen } from './listener.ts';
import { startMetricsListener } from './metrics-listener.ts';
import { publicTls } from './public-tls.ts';
import { peerAgentOfRequest } from './mtls-admission.ts';
import { type MtlsListener, startMtlsListener } from './mtls-listener.ts';
import { openApiDocument } from './openapi.ts';
import { withCors } from './cors.ts';
import { type DnsServer, startDnsServer } from '../dns-server/server.ts';
import { dnssecKeyDir, ZoneSigner } from '../dns/dnssec.ts';
import { createResponder } from '../dns/responder.ts';
import { apiServices, routes } from './routes.ts';
import { StorageWatch } from './health.ts';
import { probeWrite } from '../db/storage-probe.ts';
import { tileRoutes } from './tiles.ts';
import { watchCa } from './ca-watch.ts';
import { INTERMEDIATE_CRL_PREFIX, intermediateCrlRoute } from './crl-route.ts';

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /** The mTLS listener's https:// URL and port; undefined when MTLS_ENABLED=false. */
  readonly mtlsUrl: string | undefined;
  readonly mtlsPort: number | undefined;
  readonly mtls: MtlsListener | undefined;
  /** The built-in DNS server's port (UDP and TCP); undefined unless DNS_ZONES is set with DNS_PROVIDER=local. */
  readonly dnsPort: number | undefined;
  /** The METRICS_PORT listener's URL (http://host:port); undefined when /metrics is on the public listener. */
  readonly metricsUrl: string | undefined;
  readonly app: App;
  close(): Promise<void>;
}

/** One of the workers of `atr serve --workers N` (src/server/cluster.ts): its number and the bus to the others. */
export interface ServerWorker {
  /** 1 to N; a worker started in place of one that died takes its number. */
  readonly slot: number;
  readonly bus: MessageBus;
}

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/**
 * Starts the registry: the public listener (HTTP/1.1 and h2c on one port) first, so that with PORT=0 the
 * certificates' CRL distribution point names the port actually bound; then the database and the CA behind it;
 * then the mTLS listener, which serves the same API to agents authenticated by their certificates.
 */
export async function startServer(config: Config, logger: Logger = createLogger(config), worker?: ServerWorker): Promise<RunningServer> {
  let handle: HttpHandler = (_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end('{"detail":"starting","code":"unavailable"}');
  };
  // One connection budget for both listeners: they draw on the same file descriptors.
  const connections = new ConnectionGuard({
    maxConnections: config.maxConnections === 0 ? defaultMaxConnections() : config.maxConnections,
    maxPerClient: config.maxConnectionsPerClient,
    uncapped: trustedProxyCheck(config.trustedProxies),
  });
  const handshakeTimeoutMs = config.handshakeTimeoutSeconds * 1000;
  const idleTimeoutMs = config.idleTimeoutSeconds * 1000;
  const sessionLimits = { ...defaultSessionLimits, handshakeTimeoutMs, idleTimeoutMs, stalledRequestMs: idleTimeoutMs };
  const sessions = { public: new Http2SessionPolicy(sessionLimits), mtls: new Http2SessionPolicy(sessionLimits) };
  const tls = publicTls(config, logger);
  // Set by close(): from then on an HTTP/1.1 answer closes its connection.
  let stopping = false;
  const listener = await listen({
    host: config.host,
    port: config.port,
    handler: closingConnectionsWhen(() => stopping, (req, res) => handle(req, res)),
    connections,
    sessions: sessions.public,
    graceMs: config.shutdownGraceSeconds * 1000,
    handshakeTimeoutMs,
    logger,
    ...(tls && { tls }),
  });
  let app: App;
  try {
    app = await createApp({ ...config, publicUrl: config.publicUrl ?? listener.url }, logger, worker?.bus);
  } catch (error) {
    await listener.close();
    throw error;
  }
  try {
    // A worker's primary has done it, once, before starting the workers.
    if (worker === undefined) await prepareAccess(config, app.apiKeys, (line) => logger.warn({}, line));
    await tls?.issueFrom(app.ca);
  } catch (error) {
    tls?.stop();
    await app.close();
    await listener.close();
    throw error;
  }
  const pem = (body: () => string | Promise<string | Buffer>, type: string) => async (_req: Request, res: Response) => {
    const content = await body();
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' });
    res.end(content);
  };
  // Without servers, the document's paths are relative to where it was fetched from: right on both listeners.
  const openApi = JSON.stringify(openApiDocument({ services: apiServices, apiKeyHeader: config.apiKeyHeader }));
  const addressOf = clientAddressOf({ trustedProxies: config.trustedProxies, header: config.trustedProxyHeader ?? 'x-forwarded-for' });
  const clientAddress = (req: Request) => createContextValues().set(clientAddressKey, addressOf(req));
  // The plain HTTP reads, within the client address's read budget; on the public listener they need a key when
  // PUBLIC_READS=false, agents have their certificates.
  const reads = (keyRequired: boolean) => {
    const guard = guardPlainReads({ config, apiKeys: app.apiKeys, rateLimits: app.rateLimits, keyRequired, clientAddress: addressOf });
    return {
      extraRoutes: {
        '/v1/trust-bundle': guard(pem(() => app.ca.trustBundlePem, 'application/x-pem-file')),
        '/v1/crl': guard(pem(() => app.revocationList.current(), 'application/pkix-crl')),
        // With METRICS_PORT, only there (a 404 here).
        ...(config.metricsPort === undefined && { '/metrics': guard(app.metrics.handler) }),
        // Guarded like reflection, which describes the same API: a registry closed to anonymous reads does not
        // publish its surface to them either.
        '/openapi.json': guard(pem(() => openApi, 'application/json')),
      },
      prefixRoutes: {
        [INTERMEDIATE_CRL_PREFIX]: guard(intermediateCrlRoute(app.revocationList)),
        ...(app.log && { '/log/': guard(tileRoutes(app.log)) }),
      },
    };
  };
  // Not ready while the database cannot grow, until a write goes through again.
  const storage = new StorageWatch(() => probeWrite(app.database), logger);
  const shared: Omit<HttpHandlerOptions, 'interceptors' | 'contextValues'> = {
    routes: routes(app),
    services: apiServices,
    readiness: async () => storage.readiness(await app.readiness()),
    logger,
  };
  const publicReads = reads(true);
  const webUi = config.webUiEnabled ? webUiRoutes(config.webUiDir, logger) : undefined;
  handle = servedBy(worker, withCors(
    createHttpHandler({
      ...shared,
      extraRoutes: { ...publicReads.extraRoutes, ...webUi?.extraRoutes },
      prefixRoutes: { ...publicReads.prefixRoutes, ...webUi?.prefixRoutes },
      interceptors: [storage.interceptor, ...apiInterceptors(app, 'public')],
      contextValues: clientAddress,
    }),
    { allowedOrigins: config.corsAllowedOrigins, apiKeyHeader: config.apiKeyHeader },
  ));
  let mtls: MtlsListener | undefined;
  try {
    mtls = config.mtlsEnabled
      ? await startMtlsListener({
          host: config.mtlsHost ?? config.host,
          port: config.mtlsPort,
          hostnames: config.mtlsHostnames,
          app,
          connections,
          sessions: sessions.mtls,
          graceMs: config.shutdownGraceSeconds * 1000,
          handshakeTimeoutMs,
          handler: closingConnectionsWhen(() => stopping, servedBy(
            worker,
            createHttpHandler({
              ...shared,
              ...reads(false),
              interceptors: [storage.interceptor, ...apiInterceptors(app, 'mtls')],
              contextValues: (req) => clientAddress(req).set(peerAgentKey, peerAgentOfRequest(req)),
            }),
          )),
        })
      : undefined;
  } catch (error) {
    tls?.stop();
    await listener.close();
    await app.close();
    throw error;
  }
  let metricsListener: Listener | undefined;
  let dns: DnsServer | undefined;
  try {
    // Before the DNS server, which listens in one worker only: node:cluster tells a worker's listens on one address
    // and port apart by their order, so every worker's metrics listen must come at the same place.
    metricsListener =
      config.metricsPort === undefined
        ? undefined
        : await startMetricsListener({ host: config.metricsHost, port: config.metricsPort, metrics: app.metrics, wrap: (serve) => servedBy(worker, serve), logger });
    // In the first worker only: the others' zone tables would answer from their own feeds, a resolver asking twice
    // could see the zone go back, and with DNSSEC each would make its own keys on first start.
    dns = worker === undefined || worker.slot === 1 ? await startBuiltInDns(config, app, logger) : undefined;
  } catch (error) {
    tls?.stop();
    await Promise.all([listener.close(), mtls?.close(), metricsListener?.close()]);
    await app.close();
    throw error;
  }
  const stopWatchingCa = watchCa(app, logger);
  app.metrics.addSources({
    ...(mtls && { mtlsRefusals: mtls.refusals }),
    openConnections: () => connections.openConnections(),
    refusedConnections: () => connections.refusals(),
    endedSessions: () => ({ ...prefixed('public', sessions.public.endedSessions()), ...prefixed('mtls', sessions.mtls.endedSessions()) }),
    storageUnavailable: () => storage.unavailableCount(),
  });
  logger.info({ url: listener.url, mtlsUrl: mtls?.url, metricsUrl: metricsListener?.url, dnsPort: dns?.port }, 'listening');
  return {
    url: listener.url,
    port: listener.port,
    mtlsUrl: mtls?.url,
    mtlsPort: mtls?.port,
    mtls,
    dnsPort: dns?.port,
    metricsUrl: metricsListener?.url,
    app,
    async close() {
      stopping = true;
      tls?.stop();
      stopWatchingCa();
      await Promise.all([listener.close(), mtls?.close(), metricsListener?.close(), dns?.close()]);
      await app.close();
      logger.info({}, 'stopped');
    },
  };
}

/** The authoritative server for DNS_ZONES when the registry publishes there itself (DNS_PROVIDER=local). */
async function startBuiltInDns(config: Config, app: App, logger: Logger): Promise<DnsServer | undefined> {
  const zoneTable = app.dns?.zoneTable;
  if (zoneTable === undefined) return undefined;
  const respond = createResponder(zoneTable, {
    ttl: config.dnsTtl,
    ...(config.dnsNameservers.length > 0 && { nameservers: config.dnsNameservers }),
    ...(config.dnsHostmaster !== undefined && { hostmaster: config.dnsHostmaster }),
    ...(config.dnssecEnabled && { signer: new ZoneSigner({ keyDir: dnssecKeyDir(config.pkiRootDir) }) }),
  });
  return startDnsServer({ host: config.dnsHost, port: config.dnsPort, respond, logger });
}

/**
 * Once the server is stopping, an HTTP/1.1 answer closes its connection, so that a keep-alive client sends its next
 * call elsewhere rather than to a listener that is going away (the listeners send HTTP/2 clients GOAWAY).
 */
function closingConnectionsWhen(stopping: () => boolean, handler: HttpHandler): HttpHandler {
  return (req, res) => {
    if (stopping() && req.httpVersionMajor === 1) res.setHeader('connection', 'close');
    handler(req, res);
  };
}

/** Names the worker that answered (its number, nothing about the host) in an `atr-worker` header. */
function servedBy(worker: ServerWorker | undefined, handler: HttpHandler): HttpHandler {
  if (worker === undefined) return handler;
  const slot = String(worker.slot);
  return (req, res) => {
    res.setHeader('atr-worker', slot);
    return handler(req, res);
  };
}

function prefixed(prefix: string, counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([key, value]) => [`${prefix}:${key}`, value]));
}
