import type { Redis } from 'ioredis';
import type { TxtLookup } from '../dns/resolution.ts';

type Found = Awaited<ReturnType<TxtLookup>>;

/** A cached lookup: what the resolver answered, and until when (ms since the epoch) it holds. */
interface Cached {
  readonly found: Found;
  readonly until: number;
}

/**
 * TXT lookups shared by every registry process through Redis: an answer is kept for its TTL, so processes resolving
 * the same agents through DNS ask the resolver once between them (an absence is not kept: the next call asks again).
 * Redis being down only means asking the resolver.
 */
export function sharedTxtLookup(lookup: TxtLookup, redis: Redis, prefix: string, now: () => number = Date.now): TxtLookup {
  const key = (name: string) => `${prefix}dns:txt:${name.toLowerCase()}`;
  return async (name) => {
    const hit = await redis.get(key(name)).catch(() => null);
    if (hit !== null) {
      const cached = JSON.parse(hit) as Cached;
      const left = Math.floor((cached.until - now()) / 1000);
      if (left > 0) return cached.found && { ...cached.found, ttl: left };
    }
    const found = await lookup(name);
    const ttl = found?.ttl ?? 0;
    if (ttl > 0) {
      const value: Cached = { found, until: now() + ttl * 1000 };
      await redis.set(key(name), JSON.stringify(value), 'PX', ttl * 1000).catch(() => undefined);
    }
    return found;
  };
}
