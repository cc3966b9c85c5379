import { Redis, type RedisOptions } from 'ioredis';

/** How every Redis connection of the registry reconnects: exponential backoff from 100 ms to 5 s, for as long as the process runs. */
export const redisConnectionOptions: RedisOptions = {
  lazyConnect: false,
  retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt - 1, 6), 5_000),
  connectTimeout: 2_000,
};

/**
 * The connection for commands (cache reads and writes, rate-limit counters). Redis is never the source of truth,
 * so a command must fail fast rather than wait: nothing is queued while disconnected, and an answer slower than
 * half a second counts as an outage. Callers fall back to the database or to memory.
 */
export function createCommandClient(url: string): Redis {
  const client = new Redis(url, {
    ...redisConnectionOptions,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 500,
    enableAutoPipelining: true,
  });
  // Outages are reported by readiness and by the callers that fall back; an unhandled 'error' would crash.
  client.on('error', () => undefined);
  return client;
}

/** 'ok' while the connection is up, else 'unavailable' (the client keeps reconnecting by itself). */
export function redisHealth(client: Redis): 'ok' | 'unavailable' {
  return client.status === 'ready' ? 'ok' : 'unavailable';
}
