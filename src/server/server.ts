import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { createContextValues } from '@connectrpc/connect';
import type { Config } from '../config/schema.ts';
import { clientAddressKey } from '../services/context.ts';
import { type App, createApp } from './app.ts';
import { errorInterceptor } from './errors.ts';
import { createHttpHandler } from './http-handler.ts';
import { type HttpHandler, listen } from './listener.ts';
import { apiServices, routes } from './routes.ts';
import { tileRoutes } from './tiles.ts';

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly app: App;
  close(): Promise<void>;
}

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/**
 * Starts the registry: the public listener (HTTP/1.1 and h2c on one port) first, so that with PORT=0 the
 * certificates' CRL distribution point names the port actually bound; then the database and the CA behind it.
 */
export async function startServer(config: Config): Promise<RunningServer> {
  let handle: HttpHandler = (_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end('{"detail":"starting","code":"unavailable"}');
  };
  const listener = await listen({ host: config.host, port: config.port, handler: (req, res) => handle(req, res) });
  let app: App;
  try {
    app = await createApp({ ...config, publicUrl: config.publicUrl ?? listener.url });
  } catch (error) {
    await listener.close();
    throw error;
  }
  const pem = (body: () => string | Promise<string | Buffer>, type: string) => async (_req: Request, res: Response) => {
    const content = await body();
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' });
    res.end(content);
  };
  handle = createHttpHandler({
    routes: routes(app),
    services: apiServices,
    interceptors: [errorInterceptor],
    readiness: () => app.readiness(),
    contextValues: (req) => createContextValues().set(clientAddressKey, req.socket.remoteAddress ?? 'unknown'),
    extraRoutes: {
      '/v1/trust-bundle': pem(() => app.ca.trustBundlePem, 'application/x-pem-file'),
      '/v1/crl': pem(() => app.revocationList.current(), 'application/pkix-crl'),
    },
    ...(app.log && { prefixRoutes: { '/log/': tileRoutes(app.log) } }),
  });
  return {
    url: listener.url,
    port: listener.port,
    app,
    async close() {
      await listener.close();
      await app.close();
    },
  };
}
