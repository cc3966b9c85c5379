import type { Logger } from '../log/logger.ts';
import { type HttpHandler, type Listener, listen } from './listener.ts';
import type { Metrics } from './metrics.ts';

export interface MetricsListenOptions {
  /** METRICS_HOST: loopback by default, where only the host's own scraper (or a sidecar) reaches it. */
  readonly host: string;
  readonly port: number;
  readonly metrics: Metrics;
  /** Wraps the handler, e.g. to name the worker that answered. */
  readonly wrap?: (handler: HttpHandler) => HttpHandler;
  readonly logger: Logger;
}

/**
 * METRICS_PORT: /metrics on a port of its own and nothing else there, so the public listener need not publish the
 * process's internals and a scraper needs no API key or read budget. Everything else is a 404.
 */
export function startMetricsListener(options: MetricsListenOptions): Promise<Listener> {
  const serve: HttpHandler = (req, res) => {
    if (req.method === 'GET' && (req.url ?? '').split('?')[0] === '/metrics') {
      options.metrics.handler(req, res).catch((error: unknown) => {
        options.logger.error({ err: error }, 'cannot collect the metrics');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"detail":"only GET /metrics is served on the metrics port","code":"not_found"}');
  };
  return listen({ host: options.host, port: options.port, handler: options.wrap?.(serve) ?? serve, logger: options.logger });
}
