// The Cloudflare provider against a loopback stand-in of Cloudflare's DNS records API that checks the bearer token,
// keeps records one per value as Cloudflare does, runs batches as one transaction, and answers scripted errors.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CloudflareProvider } from '../../src/dns-providers/cloudflare.ts';
import type { RRset } from '../../src/dns/rrset.ts';
import { change, fastRetry, refusal, svcb, tlsa, txt } from '../support/provider-fixtures.ts';
import { startCloudflareStandIn, type CloudflareStandIn } from '../support/cloudflare-standin.ts';

const ZONE_ID = '023e105f4ecef8ad9ca31a8372d0c353';
const TOKEN = 'cf-token-Very-Private-0123456789abcdefXYZ';

const srv: RRset<'SRV'> = {
  name: '_atr._tcp.billing.agents.example.com',
  type: 'SRV',
  ttl: 60,
  records: [
    { priority: 10, weight: 5, port: 8443, target: 'billing.agents.example.com' },
    { priority: 20, weight: 5, port: 8443, target: 'backup.agents.example.com' },
  ],
};

let standIn: CloudflareStandIn;

function provider(overrides: { apiToken?: string; apiUrl?: string; attempts?: number } = {}): CloudflareProvider {
  return new CloudflareProvider({ apiToken: overrides.apiToken ?? TOKEN, zoneId: ZONE_ID, apiUrl: overrides.apiUrl ?? standIn.url, retry: { ...fastRetry, attempts: overrides.attempts ?? fastRetry.attempts } });
}

const held = (name: string, type: string) =>
  [...standIn.records.values()].filter((record) => record.name === name && record.type === type).map(({ content, data, ttl }) => ({ ttl, ...(content === undefined ? { data } : { content }) }));
const calls = () => standIn.requests.map((request) => `${request.method} ${request.path}`);

beforeAll(async () => {
  standIn = await startCloudflareStandIn({ zoneId: ZONE_ID, zoneName: 'example.com', apiToken: TOKEN });
});
afterEach(() => {
  standIn.requests.length = 0;
  standIn.records.clear();
});
afterAll(() => standIn.close());

describe('Cloudflare provider', () => {
  it('lists each set by exact name and type, then creates its records in one batch with the bearer token', async () => {
    await provider().apply(change([txt, tlsa, srv, svcb]));

    const list = `GET /client/v4/zones/${ZONE_ID}/dns_records`;
    expect(calls()).toEqual([list, list, list, list, `POST /client/v4/zones/${ZONE_ID}/dns_records/batch`]);
    for (const request of standIn.requests) expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(Object.fromEntries(standIn.requests[0]?.query ?? [])).toEqual({ 'name.exact': txt.name, type: 'TXT', per_page: '100' });
    expect(standIn.requests[4]?.body).toEqual({
      deletes: [],
      puts: [],
      posts: [
        { name: txt.name, type: 'TXT', ttl: 60, content: `"v=atr1; status=active" "say \\"hi\\"\\\\now" "\\195\\169" "${'x'.repeat(255)}"` },
        { name: tlsa.name, type: 'TLSA', ttl: 60, data: { usage: 3, selector: 1, matching_type: 1, certificate: 'ab'.repeat(32) } },
        { name: srv.name, type: 'SRV', ttl: 60, data: { priority: 10, weight: 5, port: 8443, target: 'billing.agents.example.com' } },
        { name: srv.name, type: 'SRV', ttl: 60, data: { priority: 20, weight: 5, port: 8443, target: 'backup.agents.example.com' } },
        { name: svcb.name, type: 'SVCB', ttl: 60, data: { priority: 1, target: 'billing.agents.example.com', value: 'alpn=h2,http/1.1 port=8443' } },
      ],
    });
    expect(standIn.records.size).toBe(5);
  });

  it('changes nothing when the records are already there', async () => {
    const dns = provider();
    await dns.apply(change([txt, tlsa, srv, svcb]));
    const before = new Map(standIn.records);
    standIn.requests.length = 0;

    await dns.apply(change([txt, tlsa, srv, svcb]));
    expect(calls().every((call) => call.startsWith('GET '))).toBe(true);
    expect(standIn.records).toEqual(before);
  });

  it('makes a set exactly the wanted records: one kept, one overwritten in place, extras deleted', async () => {
    const keep = standIn.seed({ name: srv.name, type: 'SRV', ttl: 60, data: { priority: 10, weight: 5, port: 8443, target: 'billing.agents.example.com.' } });
    const stale = standIn.seed({ name: srv.name, type: 'SRV', ttl: 60, data: { priority: 30, weight: 0, port: 9000, target: 'old.agents.example.com' } });
    const extra = standIn.seed({ name: srv.name, type: 'SRV', ttl: 300, data: { priority: 40, weight: 0, port: 9001, target: 'older.agents.example.com' } });
    const other = standIn.seed({ name: srv.name, type: 'TXT', ttl: 60, content: '"not ours to touch"' });

    await provider().apply(change([srv]));
    const batch = standIn.requests.at(-1)?.body as { deletes: { id: string }[]; puts: { id: string }[]; posts: unknown[] };
    expect(batch.deletes).toEqual([{ id: extra.id }]);
    expect(batch.puts.map((put) => put.id)).toEqual([stale.id]);
    expect(batch.posts).toEqual([]);
    expect(standIn.records.get(keep.id)).toEqual(keep);
    expect(standIn.records.get(other.id)).toEqual(other);
    expect(held(srv.name, 'SRV').map((record) => ('data' in record ? record.data?.priority : undefined)).sort()).toEqual([10, 20]);
  });

  it('reads every page of a large set before deciding what to delete', async () => {
    for (let i = 0; i < 130; i += 1) standIn.seed({ name: txt.name, type: 'TXT', ttl: 60, content: `"stray ${i}"` });
    await provider().apply(change([txt]));
    const lists = standIn.requests.filter((request) => request.method === 'GET');
    expect(lists.map((request) => request.query.get('page') ?? '1')).toEqual(['1', '2']);
    const batch = standIn.requests.at(-1)?.body as { deletes: unknown[]; puts: unknown[]; posts: unknown[] };
    expect([batch.deletes.length, batch.puts.length, batch.posts.length]).toEqual([129, 1, 0]);
    expect(held(txt.name, 'TXT')).toHaveLength(1);
  });

  it('removes every record of a removed set, and a second removal finds nothing to do', async () => {
    const dns = provider();
    await dns.apply(change([txt, srv]));
    await dns.apply(change([], [srv]));
    expect(held(srv.name, 'SRV')).toEqual([]);
    expect(held(txt.name, 'TXT')).toHaveLength(1);

    standIn.requests.length = 0;
    await dns.apply(change([], [srv]));
    expect(calls()).toEqual([`GET /client/v4/zones/${ZONE_ID}/dns_records`]);
  });

  it('retries after a 429 and then succeeds, with no record written twice', async () => {
    standIn.script({ status: 429, errors: [{ code: 971, message: 'Please wait and consider throttling your request speed' }], headers: { 'retry-after': '0' } });
    await provider().apply(change([txt]));
    expect(standIn.requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(calls()).toEqual([`GET /client/v4/zones/${ZONE_ID}/dns_records`, `GET /client/v4/zones/${ZONE_ID}/dns_records`, `POST /client/v4/zones/${ZONE_ID}/dns_records/batch`]);
    expect(held(txt.name, 'TXT')).toHaveLength(1);
  });

  it('retries after a 5xx on the batch, re-reading the zone first', async () => {
    standIn.script({ status: 502, errors: [{ code: 10013, message: 'Bad gateway' }], method: 'POST' });
    await provider().apply(change([tlsa]));
    const list = `GET /client/v4/zones/${ZONE_ID}/dns_records`;
    const batch = `POST /client/v4/zones/${ZONE_ID}/dns_records/batch`;
    expect(calls()).toEqual([list, batch, list, batch]);
    expect(standIn.requests[3]?.body).toEqual(standIn.requests[1]?.body);
    expect(held(tlsa.name, 'TLSA')).toHaveLength(1);
  });

  it('does not wait out a Retry-After longer than its bound: the refusal is retryable and says when', async () => {
    standIn.script({ status: 429, errors: [{ code: 971, message: 'Please wait and consider throttling your request speed' }], headers: { 'retry-after': '300' } });
    const refused = await refusal(provider().apply(change([txt])));
    expect(refused.retryable).toBe(true);
    expect(refused.retryAfterMs).toBe(300_000);
    expect(refused.message).toContain('HTTP 429: 971: Please wait');
    expect(standIn.requests).toHaveLength(1);
  });

  it('refuses a bad token with a 403 without retrying, and never repeats the token', async () => {
    const wrong = 'cf-token-Wrong-9876543210';
    const refused = await refusal(provider({ apiToken: wrong }).apply(change([txt])));
    expect(refused.retryable).toBe(false);
    expect(refused.message).toBe('Cloudflare refused the change: HTTP 403: 10000: Authentication error');
    for (const secret of [wrong, TOKEN]) expect(refused.message).not.toContain(secret);
    expect(standIn.requests).toHaveLength(1);
    expect(standIn.records.size).toBe(0);
  });

  it('does not retry a record Cloudflare refuses (400), and the batch changes nothing', async () => {
    standIn.seed({ name: txt.name, type: 'TXT', ttl: 60, content: '"old"' });
    const refused = await refusal(provider().apply(change([{ ...tlsa, ttl: 60 }, { ...txt, ttl: 10 }])));
    expect(refused.retryable).toBe(false);
    expect(refused.message).toContain('HTTP 400: 9005: Invalid TTL');
    expect(calls().filter((call) => call.startsWith('POST'))).toHaveLength(1);
    expect(held(txt.name, 'TXT')).toEqual([{ ttl: 60, content: '"old"' }]);
    expect(held(tlsa.name, 'TLSA')).toEqual([]);
  });

  it('reports an unreachable API as retryable', async () => {
    const refused = await refusal(provider({ apiUrl: 'http://127.0.0.1:1/client/v4', attempts: 2 }).apply(change([txt])));
    expect(refused.retryable).toBe(true);
    expect(refused.message).toMatch(/^Cloudflare unreachable: /);
  });
});
