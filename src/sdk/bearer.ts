import type { Interceptor } from '@connectrpc/connect';

/** Sends an API key (atr_<id>_<secret>) as `Authorization: Bearer` on every call. */
export function bearer(apiKey: string): Interceptor {
  return (next) => (request) => {
    request.header.set('authorization', `Bearer ${apiKey}`);
    return next(request);
  };
}
