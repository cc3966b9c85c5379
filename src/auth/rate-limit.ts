import type { Interceptor } from '@connectrpc/connect';
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.ts';

/** Request budgets per client address and per principal; shared through Redis when the registry has it. */
export interface RateLimits {
  readonly interceptor: Interceptor;
  close(): Promise<void>;
}

/** The limits RATE_LIMIT_* describe, or undefined when RATE_LIMIT_ENABLED=false. */
export function createRateLimits(config: Config, _redis: Redis | undefined): RateLimits | undefined {
  if (!config.rateLimitEnabled) return undefined;
  throw new Error('rate limits: not built yet');
}
