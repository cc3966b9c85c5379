import type { Interceptor } from '@connectrpc/connect';
import { agentAccessInterceptor } from './agent-access.ts';
import type { App } from './app.ts';
import { errorInterceptor } from './errors.ts';

/**
 * The interceptors every API call passes, in order, on every protocol (REST calls through them too): errors are
 * mapped outermost; then who the caller is and whether it may call this method; then its request budget.
 */
export function apiInterceptors(app: App, listener: 'public' | 'mtls'): Interceptor[] {
  return [
    errorInterceptor,
    ...(listener === 'mtls' ? [agentAccessInterceptor] : []),
    ...(app.rateLimits ? [app.rateLimits.interceptor] : []),
  ];
}
