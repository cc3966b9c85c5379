import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Config } from '../config/schema.ts';
import { DomainError } from '../errors.ts';
import type { ApiKeys } from '../auth/api-keys.ts';
import { presentedKey } from './authenticate.ts';
import type { RateLimits } from './rate-limit.ts';

type Request = IncomingMessage | Http2ServerRequest;

export interface PlainReadPolicy {
  readonly config: Pick<Config, 'apiKeyEnabled' | 'publicReads' | 'apiKeyHeader'>;
  readonly apiKeys: ApiKeys;
  /** Undefined when RATE_LIMIT_ENABLED=false. */
  readonly rateLimits: RateLimits | undefined;
  /** The mTLS listener's callers are agents, authenticated by their certificates: no key is asked of them. */
  readonly keyRequired: boolean;
  /** The address whose read budget a request spends (client-address.ts). */
  readonly clientAddress: (req: Request) => string;
}

/**
 * For the plain HTTP reads beside the API (trust bundle, CRL, log tiles, /metrics): first the client address's
 * read budget is spent (and its request budget when a key is presented, so a guessed key costs what it costs on
 * the API); then, with API keys on and PUBLIC_READS=false, a valid key of any role is required, like the API's
 * public reads.
 */
export function guardPlainReads(policy: PlainReadPolicy) {
  const { config, apiKeys, rateLimits, clientAddress } = policy;
  const required = policy.keyRequired && config.apiKeyEnabled && !config.publicReads;
  return <A extends unknown[], T>(route: (req: Request, ...rest: A) => Promise<T>): ((req: Request, ...rest: A) => Promise<T>) => {
    if (!required && rateLimits === undefined) return route;
    return async (req: Request, ...rest: A): Promise<T> => {
      const key = presentedKey({ get: (name: string) => headerValue(req, name) }, config.apiKeyHeader);
      await rateLimits?.spendRead(clientAddress(req), key !== undefined);
      if (required) {
        if (key === undefined) throw new DomainError('unauthenticated', `this read needs an API key (${config.apiKeyHeader} or Authorization: Bearer)`);
        await apiKeys.authenticate(key);
      }
      return route(req, ...rest);
    };
  };
}

function headerValue(req: Request, name: string): string | null {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}
