// Answers from DNS shared by registry processes through a real Redis: the second process does not ask its resolver.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { sharedTxtLookup } from '../../src/cache/dns-lookup-cache.ts';
import { DnsResolution, type TxtLookup } from '../../src/dns/resolution.ts';

const clients: Redis[] = [];
/** A client as the registry makes one: no offline queue, so an unreachable Redis fails calls at once. */
const client = async (url = 'redis://127.0.0.1:6379') => {
  const redis = new Redis(url, { maxRetriesPerRequest: 0, enableOfflineQueue: false });
  redis.on('error', () => {});
  clients.push(redis);
  if (!url.endsWith(':1')) await new Promise((resolve) => redis.once('ready', resolve));
  return redis;
};

afterAll(() => {
  for (const redis of clients) redis.disconnect();
});

/** A resolver's answers, counting the questions it was asked. */
function resolver(): { lookup: TxtLookup; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    lookup: async (name) => {
      asked.push(name);
      return { texts: ['v=atr1; status=active; fp=sha256:cd; spiffe=spiffe://atr.local/agent/a.test; caps='], ttl: 30, authenticated: true };
    },
  };
}

describe('DNS answers shared through Redis', () => {
  it('a second process takes the first one\'s answer for the rest of its TTL', async () => {
    const prefix = `atr:${randomUUID()}:`;
    const [first, second] = [resolver(), resolver()];
    const one = new DnsResolution({ lookup: sharedTxtLookup(first.lookup, await client(), prefix) });
    const other = new DnsResolution({ lookup: sharedTxtLookup(second.lookup, await client(), prefix) });
    expect((await one.resolve('a.test'))?.record.fingerprint).toBe('cd');
    const fromRedis = await other.resolve('a.test');
    expect(fromRedis).toMatchObject({ status: 'active', authenticated: true, record: { fingerprint: 'cd' } });
    expect(first.asked).toEqual(['_atr.a.test']);
    expect(second.asked).toEqual([]);
    expect(Number(await (await client()).pttl(`${prefix}dns:txt:_atr.a.test`))).toBeGreaterThan(25_000);
  });

  it('with Redis unreachable, asks the resolver', async () => {
    const { lookup, asked } = resolver();
    const resolution = new DnsResolution({ lookup: sharedTxtLookup(lookup, await client('redis://127.0.0.1:1'), 'atr:down:') });
    expect((await resolution.resolve('b.test'))?.record.fingerprint).toBe('cd');
    expect(asked).toEqual(['_atr.b.test']);
  });
});
