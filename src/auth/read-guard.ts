import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Config } from '../config/schema.ts';
import { DomainError } from '../errors.ts';
import type { ApiKeys } from './api-keys.ts';
import { presentedKey } from './authenticate.ts';

type Request = IncomingMessage | Http2ServerRequest;

/**
 * For the plain HTTP reads beside the API (trust bundle, CRL, log tiles): with API keys on and PUBLIC_READS=false
 * they need a valid key of any role, like the API's public reads; otherwise the route is returned as it is.
 */
export function guardPublicReads(config: Pick<Config, 'apiKeyEnabled' | 'publicReads' | 'apiKeyHeader'>, apiKeys: ApiKeys) {
  const required = config.apiKeyEnabled && !config.publicReads;
  return <A extends unknown[], T>(route: (req: Request, ...rest: A) => Promise<T>): ((req: Request, ...rest: A) => Promise<T>) => {
    if (!required) return route;
    return async (req: Request, ...rest: A): Promise<T> => {
      const header = { get: (name: string) => headerValue(req, name) };
      const key = presentedKey(header, config.apiKeyHeader);
      if (key === undefined) throw new DomainError('unauthenticated', `this read needs an API key (${config.apiKeyHeader} or Authorization: Bearer)`);
      await apiKeys.authenticate(key);
      return route(req, ...rest);
    };
  };
}

function headerValue(req: Request, name: string): string | null {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}
