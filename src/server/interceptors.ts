import type { Interceptor } from '@connectrpc/connect';
import { accessLogInterceptor } from './access-log.ts';
import { authenticationInterceptor } from './authenticate.ts';
import type { App } from './app.ts';
import { errorInterceptor } from './errors.ts';

/**
 * The interceptors every API call passes, in order, on every protocol (REST calls through them too): errors are
 * mapped outermost; every call gets a request id and an access line (app.logger); every call is counted and timed; then the client address's request budget (so guessed keys are counted); then who the caller
 * is and whether it may call this method; then that principal's budget.
 */
export function apiInterceptors(app: App, listener: 'public' | 'mtls'): Interceptor[] {
  return [
    errorInterceptor,
    accessLogInterceptor(app.logger),
    app.metrics.interceptor,
    ...(app.rateLimits ? [app.rateLimits.byAddress] : []),
    authenticationInterceptor({ config: app.config, apiKeys: app.apiKeys, store: app.store, logger: app.logger }, listener),
    ...(app.rateLimits ? [app.rateLimits.byPrincipal] : []),
  ];
}
