import { describe, expect, it } from 'vitest';
import { DnsResolution, type TxtLookup } from '../../src/dns/resolution.ts';

const record = (fields: string) => `v=atr1; status=active; fp=sha256:ab; spiffe=spiffe://atr.local/agent/a.test; log=3; ${fields}; caps=x,y`;

describe('resolution through DNS', () => {
  it('reads the _atr record, keeps it for its TTL, and says expired once exp has passed', async () => {
    let now = 1_000_000;
    const asked: string[] = [];
    const lookup: TxtLookup = async (name) => {
      asked.push(name);
      return { texts: ['unrelated text', record(`exp=${now / 1000 + 10}`)], ttl: 60, authenticated: true };
    };
    const resolution = new DnsResolution({ lookup, now: () => now });
    const first = await resolution.resolve('a.test');
    expect(first).toMatchObject({ status: 'active', authenticated: true, record: { fingerprint: 'ab', logIndex: 3, capabilities: ['x', 'y'] } });
    now += 11_000;
    expect((await resolution.resolve('a.test'))?.status).toBe('expired');
    expect(asked).toEqual(['_atr.a.test']);
    now += 60_000;
    await resolution.resolve('a.test');
    expect(asked).toEqual(['_atr.a.test', '_atr.a.test']);
  });

  it('has no answer for a name without a v=atr1 record, and lets a resolver failure through', async () => {
    const resolution = new DnsResolution({ lookup: async (name) => (name.startsWith('_atr.none') ? undefined : { texts: ['v=spf1 -all'], ttl: 60, authenticated: false }) });
    expect(await resolution.resolve('none.test')).toBeUndefined();
    expect(await resolution.resolve('spf.test')).toBeUndefined();
    const failing = new DnsResolution({ lookup: async () => Promise.reject(new Error('no DNS server answered')) });
    await expect(failing.resolve('a.test')).rejects.toThrow('no DNS server answered');
  });
});
