// What the DNS provider suites share: the record sets they publish, the change that carries them, a fast retry
// policy, and the refusal a failed apply() must be.
import { expect } from 'vitest';
import { DnsProviderError, type RRset, type ZoneChange } from '../../src/dns/rrset.ts';

/** Retries that run out in well under a second. */
export const fastRetry = { attempts: 3, baseDelayMs: 5, maxDelayMs: 200 };

export const txt: RRset<'TXT'> = {
  name: '_atr.billing.agents.example.com',
  type: 'TXT',
  ttl: 60,
  records: [{ strings: ['v=atr1; status=active', 'say "hi"\\now', 'é', 'x'.repeat(255)] }],
};
export const tlsa: RRset<'TLSA'> = { name: '_443._tcp.billing.agents.example.com', type: 'TLSA', ttl: 60, records: [{ usage: 3, selector: 1, matchingType: 1, data: 'ab'.repeat(32) }] };
export const svcb: RRset<'SVCB'> = {
  name: '_billing._agents.agents.example.com',
  type: 'SVCB',
  ttl: 60,
  records: [{ priority: 1, target: 'billing.agents.example.com', params: [{ key: 'alpn', value: 'h2,http/1.1' }, { key: 'port', value: '8443' }] }],
};

export const change = (upsert: RRset[], remove: RRset[] = [], zone = 'agents.example.com'): ZoneChange => ({ zone, upsert, remove });

/** The DnsProviderError `promise` fails with; fails the test when it succeeds or fails otherwise. */
export async function refusal(promise: Promise<unknown>): Promise<DnsProviderError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(DnsProviderError);
  return error as DnsProviderError;
}
