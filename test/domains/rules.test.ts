// The pure rules of domain validation: canonical names, label-boundary containment, the challenge values (checked
// against an independent computation of ACME's key authorization digest) and the re-validation state machine.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { dnsValue, keyAuthorization, newToken } from '../../src/domains/challenge.ts';
import { canonicalDomain, enclosingDomains } from '../../src/domains/names.ts';
import { standingAfter } from '../../src/domains/standing.ts';
import type { DomainRecord } from '../../src/domains/store.ts';

describe('domain names', () => {
  it('drops one trailing dot and lowercases', () => {
    expect(canonicalDomain('Example.COM.')).toBe('example.com');
    expect(canonicalDomain('xn--bcher-kva.example')).toBe('xn--bcher-kva.example');
  });

  it.each([
    ['', 'domain: must not be empty'],
    ['example.com..', 'domain: labels must not be empty'],
    ['192.0.2.1', 'domain: must be a DNS name, not an IP address'],
    ['2001:db8::1', 'domain: must be a DNS name, not an IP address'],
    ['com', 'domain: must have at least two labels: "com" is a top-level domain'],
    ['co.uk', 'domain: "co.uk" is a public suffix'],
    ['com.au.', 'domain: "com.au" is a public suffix'],
    ['1.2.3.4.5', 'domain: must be a DNS name: the last label of "1.2.3.4.5" is all digits'],
    ['bad label.com', 'domain: must not contain whitespace'],
    ['b\u00fccher.example', 'domain: must be ASCII'],
    [`${'a'.repeat(64)}.com`, 'is longer than 63 characters'],
  ])('refuses %j with its rule', (raw, rule) => {
    expect(() => canonicalDomain(raw)).toThrow(rule);
  });

  it('accepts a registrable domain under a two-letter TLD', () => {
    expect(canonicalDomain('example.co.uk')).toBe('example.co.uk');
    expect(canonicalDomain('acme.uk')).toBe('acme.uk');
  });

  it('finds the domains a name lies in on label boundaries', () => {
    expect(enclosingDomains('a.b.example.com')).toEqual(['a.b.example.com', 'b.example.com', 'example.com']);
    expect(enclosingDomains('a.notexample.com')).not.toContain('example.com');
    expect(enclosingDomains('example.com.evil.test')).toEqual(['example.com.evil.test', 'com.evil.test', 'evil.test']);
  });
});

describe('challenges', () => {
  it('makes 128-bit base64url tokens, each different', () => {
    const tokens = new Set(Array.from({ length: 100 }, newToken));
    expect(tokens.size).toBe(100);
    for (const token of tokens) expect(Buffer.from(token, 'base64url')).toHaveLength(16);
  });

  it('answers DNS with base64url(SHA-256(token "." owner)) and HTTP with the key authorization', () => {
    expect(keyAuthorization('tok', 'acme')).toBe('tok.acme');
    const expected = createHash('sha256').update('tok.acme').digest().toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    expect(dnsValue('tok', 'acme')).toBe(expected);
    expect(dnsValue('tok', 'umbrella')).not.toBe(expected);
  });
});

describe('re-validation', () => {
  const day = 86_400_000;
  const t0 = new Date('2030-01-01T00:00:00.000Z');
  const after = (days: number) => new Date(t0.getTime() + days * day);
  const policy = { revalidationDays: 30, graceDays: 7 };
  const record: DomainRecord = {
    id: 1,
    domain: 'example.com',
    owner: 'acme',
    status: 'verified',
    method: 'dns',
    token: 't',
    verifiedAt: t0,
    lastCheckedAt: t0,
    nextCheckAt: after(30),
    flaggedAt: undefined,
    failure: '',
    evidence: { method: 'dns', resolvers: [], httpUrl: '', httpAddress: '', whois: undefined, checkedAt: t0.toISOString() },
  };
  const failed = { outcome: 'failed', reason: 'gone' } as const;
  const passed = { outcome: 'passed', evidence: { method: 'dns', resolvers: [], httpUrl: '', httpAddress: '' } } as const;

  it('flags on the first failure, re-checks daily, and suspends once the grace period is over', () => {
    const flagged = standingAfter(record, failed, after(30), policy);
    expect(flagged.eventType).toBe('domain.flagged');
    expect(flagged.state).toMatchObject({ status: 'flagged', flaggedAt: after(30), failure: 'gone', nextCheckAt: after(31) });
    const stillFlagged = standingAfter({ ...flagged.state, id: 1 }, failed, after(36), policy);
    expect(stillFlagged.eventType).toBe('domain.verification_failed');
    expect(stillFlagged.state).toMatchObject({ status: 'flagged', flaggedAt: after(30), nextCheckAt: after(37) });
    const suspended = standingAfter({ ...stillFlagged.state, id: 1 }, failed, after(37), policy);
    expect(suspended.eventType).toBe('domain.suspended');
    expect(suspended.state.status).toBe('suspended');
    const restored = standingAfter({ ...suspended.state, id: 1 }, passed, after(40), policy);
    expect(restored.eventType).toBe('domain.verified');
    expect(restored.state).toMatchObject({ status: 'verified', flaggedAt: undefined, failure: '', nextCheckAt: after(70) });
  });

  it('with no grace period, re-checks a flagged domain at once and suspends it on the next failure', () => {
    const noGrace = { revalidationDays: 30, graceDays: 0 };
    const flagged = standingAfter(record, failed, after(30), noGrace);
    expect(flagged.state.nextCheckAt).toEqual(after(30));
    expect(standingAfter({ ...flagged.state, id: 1 }, failed, after(30), noGrace).eventType).toBe('domain.suspended');
  });
});
