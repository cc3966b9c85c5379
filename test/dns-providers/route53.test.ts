// The Route 53 provider against a loopback stand-in of the Route 53 API that checks SigV4 signatures, applies
// change batches with Route 53's rules, and answers with AWS's errors when a test scripts them.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Route53Provider } from '../../src/dns-providers/route53.ts';
import type { RRset } from '../../src/dns/rrset.ts';
import { change, fastRetry, refusal, svcb, tlsa, txt } from '../support/provider-fixtures.ts';
import { startRoute53StandIn, type Route53StandIn } from '../support/route53-standin.ts';

const ZONE_ID = 'Z0123456789ABCDEFGHIJ';
const ACCESS_KEY_ID = 'AKIATESTROUTE53PROV';
const SECRET = 'r53-secret/Very+Private+Key+0123456789abcdef';
const REGION = 'eu-west-1';

const srv: RRset<'SRV'> = { name: '_atr._tcp.billing.agents.example.com', type: 'SRV', ttl: 60, records: [{ priority: 10, weight: 5, port: 8443, target: 'billing.agents.example.com' }] };

let standIn: Route53StandIn;
const providers: Route53Provider[] = [];

function provider(overrides: { secretAccessKey?: string; hostedZoneId?: string; endpoint?: string; attempts?: number } = {}): Route53Provider {
  const created = new Route53Provider({
    hostedZoneId: overrides.hostedZoneId ?? ZONE_ID,
    region: REGION,
    endpoint: overrides.endpoint ?? standIn.url,
    accessKeyId: ACCESS_KEY_ID,
    secretAccessKey: overrides.secretAccessKey ?? SECRET,
    retry: { ...fastRetry, attempts: overrides.attempts ?? fastRetry.attempts },
  });
  providers.push(created);
  return created;
}

beforeAll(async () => {
  standIn = await startRoute53StandIn({ hostedZoneId: ZONE_ID, accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET, region: REGION });
});
afterEach(() => {
  standIn.requests.length = 0;
  standIn.sets.clear();
});
afterAll(async () => {
  await Promise.all(providers.map((created) => created.close()));
  await standIn.close();
});

describe('Route 53 provider', () => {
  it('sends one signed change batch: UPSERT per set, absolute names, TTLs, Route 53 TXT quoting', async () => {
    await provider().apply(change([txt, tlsa, srv, svcb]));

    expect(standIn.requests).toHaveLength(1);
    const [request] = standIn.requests;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe(`/2013-04-01/hostedzone/${ZONE_ID}/rrset`);
    expect(request?.headers.authorization).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=${ACCESS_KEY_ID}/\\d{8}/${REGION}/route53/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$`));
    expect(request?.body).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?><ChangeResourceRecordSetsRequest xmlns="https:\/\/route53.amazonaws.com\/doc\/2013-04-01\/"><ChangeBatch><Changes><Change>/);
    expect(request?.changes).toEqual([
      {
        action: 'UPSERT',
        name: '_atr.billing.agents.example.com.',
        type: 'TXT',
        ttl: 60,
        values: [`"v=atr1; status=active" "say \\"hi\\"\\\\now" "\\303\\251" "${'x'.repeat(255)}"`],
      },
      { action: 'UPSERT', name: '_443._tcp.billing.agents.example.com.', type: 'TLSA', ttl: 60, values: [`3 1 1 ${'ab'.repeat(32)}`] },
      { action: 'UPSERT', name: '_atr._tcp.billing.agents.example.com.', type: 'SRV', ttl: 60, values: ['10 5 8443 billing.agents.example.com.'] },
      { action: 'UPSERT', name: '_billing._agents.agents.example.com.', type: 'SVCB', ttl: 60, values: ['1 billing.agents.example.com. alpn=h2,http/1.1 port=8443'] },
    ]);
    expect([...standIn.sets.keys()].sort()).toEqual([
      '_443._tcp.billing.agents.example.com. TLSA',
      '_atr._tcp.billing.agents.example.com. SRV',
      '_atr.billing.agents.example.com. TXT',
      '_billing._agents.agents.example.com. SVCB',
    ]);
  });

  it('deletes a set with its current records, and applying the same change twice succeeds', async () => {
    const dns = provider();
    await dns.apply(change([txt, tlsa]));
    standIn.requests.length = 0;

    const revoke = change([{ ...txt, records: [{ strings: ['v=atr1; status=revoked'] }] }], [tlsa]);
    await dns.apply(revoke);
    expect(standIn.requests.map((r) => r.changes.map((c) => `${c.action} ${c.type}`))).toEqual([['UPSERT TXT', 'DELETE TLSA']]);
    expect(standIn.requests[0]?.changes[1]).toEqual({ action: 'DELETE', name: '_443._tcp.billing.agents.example.com.', type: 'TLSA', ttl: 60, values: [`3 1 1 ${'ab'.repeat(32)}`] });
    expect(standIn.sets.has('_443._tcp.billing.agents.example.com. TLSA')).toBe(false);

    // Again: the DELETE finds nothing, Route 53 refuses the whole batch, the provider drops the DELETE and resends.
    standIn.requests.length = 0;
    await dns.apply(revoke);
    expect(standIn.requests.map((r) => r.changes.map((c) => `${c.action} ${c.type}`))).toEqual([['UPSERT TXT', 'DELETE TLSA'], ['UPSERT TXT']]);
    expect(standIn.sets.get('_atr.billing.agents.example.com. TXT')?.values).toEqual(['"v=atr1; status=revoked"']);
  });

  it('reads back a set that changed behind the registry and deletes it as it is', async () => {
    standIn.sets.set('_443._tcp.billing.agents.example.com. TLSA', { name: '_443._tcp.billing.agents.example.com.', type: 'TLSA', ttl: 300, values: [`3 1 1 ${'cd'.repeat(32)}`] });
    await provider().apply(change([], [tlsa]));
    expect(standIn.requests.map((r) => `${r.method} ${r.path}${r.method === 'GET' ? `?${r.query.toString()}` : ''}`)).toEqual([
      `POST /2013-04-01/hostedzone/${ZONE_ID}/rrset`,
      `GET /2013-04-01/hostedzone/${ZONE_ID}/rrset?maxitems=1&name=_443._tcp.billing.agents.example.com.&type=TLSA`,
      `POST /2013-04-01/hostedzone/${ZONE_ID}/rrset`,
    ]);
    expect(standIn.requests[2]?.changes).toEqual([{ action: 'DELETE', name: '_443._tcp.billing.agents.example.com.', type: 'TLSA', ttl: 300, values: [`3 1 1 ${'cd'.repeat(32)}`] }]);
    expect(standIn.sets.size).toBe(0);
  });

  it.each([
    ['Throttling', { status: 400, code: 'Throttling', message: 'Rate exceeded' }],
    ['PriorRequestNotComplete', { status: 400, code: 'PriorRequestNotComplete', message: 'The request was rejected because Route 53 was still processing a prior request.' }],
    ['a 503', { status: 503, code: 'ServiceUnavailable', message: 'Service Unavailable', type: 'Receiver' as const }],
  ])('retries after %s and then succeeds', async (_what, error) => {
    standIn.script(error);
    await provider().apply(change([txt]));
    expect(standIn.requests.filter((r) => r.method === 'POST')).toHaveLength(2);
    expect(standIn.requests[1]?.changes).toEqual(standIn.requests[0]?.changes);
    expect(standIn.sets.get('_atr.billing.agents.example.com. TXT')?.ttl).toBe(60);
  });

  it('gives up after its bounded tries with a retryable refusal naming the code', async () => {
    standIn.script(...Array(3).fill({ status: 400, code: 'Throttling', message: 'Rate exceeded' }));
    const error = await refusal(provider().apply(change([txt])));
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('Throttling');
    expect(standIn.requests).toHaveLength(3);
    expect(standIn.sets.size).toBe(0);
  });

  it.each([
    ['an invalid change batch', { status: 400, code: 'InvalidChangeBatch', message: "[RRSet of type CNAME with DNS name _atr.billing.agents.example.com. is not permitted as it conflicts with other records with the same DNS name in zone example.com.]" }, 'InvalidChangeBatch'],
    ['access denied', { status: 403, code: 'AccessDenied', message: 'User: arn:aws:iam::123456789012:user/atr is not authorized to perform: route53:ChangeResourceRecordSets' }, 'AccessDenied'],
  ])('does not retry %s', async (_what, error, code) => {
    standIn.script(error);
    const refused = await refusal(provider().apply(change([txt])));
    expect(refused.retryable).toBe(false);
    expect(refused.message).toContain(code);
    expect(standIn.requests).toHaveLength(1);
    expect(standIn.sets.size).toBe(0);
  });

  it('does not retry a hosted zone that does not exist', async () => {
    const refused = await refusal(provider({ hostedZoneId: 'ZNOSUCHZONE' }).apply(change([txt])));
    expect(refused.retryable).toBe(false);
    expect(refused.message).toMatch(/NoSuchHostedZone \(HTTP 404\)/);
    expect(standIn.requests).toHaveLength(1);
  });

  it('refuses a wrong secret key without retrying, and never repeats the secret or the key id', async () => {
    const wrong = 'wrong-secret/Another+Private+Key+99';
    const refused = await refusal(provider({ secretAccessKey: wrong }).apply(change([txt])));
    expect(refused.retryable).toBe(false);
    expect(refused.message).toContain('SignatureDoesNotMatch');
    for (const secret of [wrong, SECRET, ACCESS_KEY_ID]) expect(refused.message).not.toContain(secret);
    expect(standIn.sets.size).toBe(0);
  });

  it('reports an unreachable API as retryable', async () => {
    const refused = await refusal(provider({ endpoint: 'http://127.0.0.1:1', attempts: 2 }).apply(change([txt])));
    expect(refused.retryable).toBe(true);
    expect(refused.message).toMatch(/^Route 53 unreachable: /);
  });
});
